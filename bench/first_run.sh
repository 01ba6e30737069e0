#!/usr/bin/env bash
# A new user's first run on a busy machine, N times (issue 10): each round clones this
# repository's HEAD into a fresh folder, moves Prefect's home aside (a new user has none),
# starts eight CPU-bound processes (a load of about 8 on 2 cores; bench/busy.py, they stop by
# themselves), and runs the README's first command exactly as written. It passes when every
# round publishes (exit 0, "Published version 1").
#
#   bash bench/first_run.sh [ROUNDS=3] [SPINNERS=8]
#
# Logs and timings go to bench/out/first_run/. Not a test: it takes minutes.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
spinners=${2:-8}
out="$here/bench/out/first_run"
mkdir -p "$out"
passed=0
for round in $(seq 1 "$rounds"); do
    work=$(mktemp -d /tmp/netliq-first-run.XXXXXX)
    git clone --quiet "$here" "$work/netliq"
    prefect_home=$(mktemp -d /tmp/netliq-prefect-home.XXXXXX)
    python3 "$here/bench/busy.py" "$spinners" --seconds 900 &
    busy=$!
    sleep 15  # let the load build up
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s.%N)
    # a new user: no PREFECT_HOME of their own (a fresh one here), nothing else exported
    (cd "$work/netliq" && env PREFECT_HOME="$prefect_home" uv run netliq run --offline) >"$out/round$round.log" 2>&1
    code=$?
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    load_after=$(cut -d' ' -f1 /proc/loadavg)
    kill "$busy" 2>/dev/null
    wait "$busy" 2>/dev/null
    if [ "$code" -eq 0 ] && grep -q "^Published version 1" "$out/round$round.log"; then
        verdict=published
        passed=$((passed + 1))
    else
        verdict="FAILED (exit $code; see $out/round$round.log)"
    fi
    printf 'round %d: %s in %.0f s (load %s -> %s, %d spinners)\n' "$round" "$verdict" "$seconds" \
        "$load_before" "$load_after" "$spinners" | tee -a "$out/summary.txt"
    rm -rf "$work" "$prefect_home"
done
echo "$passed/$rounds first runs published under load" | tee -a "$out/summary.txt"
[ "$passed" -eq "$rounds" ]
