"""Requests of a live daily run: how many per FRED series, per endpoint and per minute,
against FRED's limit of 120 a minute.

Two live runs on a fresh data folder, every FRED series of the registry answered by the
recorded-response fake at our transport boundary (tests/fake_fred.py: the recorded series-info
response, ALFRED responses built from the snapshot's real values), the Treasury's statement by
tests/fake_treasury.py, Yahoo replayed from the snapshot (as tests/test_pipeline_faults.py's
`live` fixture does). Series the snapshot lacks stay unavailable and make no request.

  first  2026-03-31 22:00 UTC (the snapshot's last evening): the whole realtime history
  next   2026-04-01 22:00 UTC: the next day's run, vintages asked only since the newest stored

    uv run python bench/bench_requests.py

Writes bench/out/bench_requests.json and prints a table. A benchmark, not a test.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import os
import sys
import time
from pathlib import Path
from tempfile import mkdtemp
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
FRED_PER_MINUTE = 120
FAKE_KEY = "NETLIQ-FAKE-KEY-bench-requests"


def _as_alfred(rows, path: str, query: dict) -> bytes | None:
    """What ALFRED answers for the realtime span asked (tests/fake_fred.py answers every request
    with the whole history): vintage dates from realtime_start on; the observations whose
    realtime period meets [realtime_start, realtime_end], each period clipped to the request,
    dated from observation_start on. None for series info (the fake's answer stands)."""
    from tests.fake_fred import vintage_dates_xml

    start = dt.date.fromisoformat(query.get("realtime_start", ["1776-07-04"])[0])
    end = dt.date.fromisoformat(query.get("realtime_end", ["9999-12-31"])[0])
    since = dt.date.fromisoformat(query.get("observation_start", ["1600-01-01"])[0])
    if path.endswith("/series/vintagedates"):
        return vintage_dates_xml([first for _, _, first in rows if first >= start])
    if not path.endswith("/series/observations"):
        return None
    lines = [f'<observation realtime_start="{max(first, start)}" realtime_end="{end}" date="{obs}" value="{text}"/>'
             for obs, text, first in rows if first <= end and obs >= since]
    head = ('<?xml version="1.0" encoding="utf-8" ?>\n<observations realtime_start="{start}" '
            f'realtime_end="{end}" observation_start="{since}" observation_end="9999-12-31" units="lin" '
            f'output_type="2" file_type="xml" order_by="observation_date" sort_order="asc" count="{len(lines)}" '
            'offset="0" limit="100000">\n').replace("{start}", str(start))
    return (head + "\n".join(lines) + "\n</observations>\n").encode()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("NETLIQ_REPORT", "0")
    os.environ["FRED_API_KEY"] = FAKE_KEY
    from flows import pipeline
    from flows.registry import load_registry
    from flows.sources import fred, replay, treasury, yahoo
    from tests.fake_fred import FakeFred
    from tests.fake_treasury import FakeTreasury, recorded_rows

    registry = load_registry()
    by_id = {s.id: s.key for s in registry.used() if s.provider == "fred"}
    in_snapshot = {k for i, k in by_id.items() if (ROOT / "data" / "snapshot" / "fred" / f"{i}.csv").is_file()}
    fakes: dict[str, FakeFred] = {}
    calls: list[dict] = []

    def transport(url: str, timeout: float) -> bytes:
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        key = by_id[query["series_id"][0]]
        calls.append({"run": run, "t": time.monotonic(), "series": key, "endpoint": parsed.path.rsplit("/fred/", 1)[-1],
                      "realtime_start": query.get("realtime_start", [None])[0],
                      "observation_start": query.get("observation_start", [None])[0]})
        fake = fakes.setdefault(key, FakeFred(key))
        answer = fake(url, timeout)  # the recorded series info, and the fake's own checks
        return _as_alfred(fake.rows, parsed.path, query) or answer

    real_vintages = fred.fetch_vintages
    fred.urllib_transport = transport
    fred.FredClient = functools.partial(fred.FredClient, backoff_initial=0, backoff_jitter=0)
    # a series the snapshot lacks has no recorded answer: unavailable, as in an offline run
    fred.fetch_vintages = lambda spec, client, **kw: (
        real_vintages(spec, client, **kw) if spec.key in in_snapshot else replay.fetch(spec, replay.SNAPSHOT_DIR))
    yahoo.fetch = lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR)
    yahoo.fetch_shares = lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR)
    fake_treasury = FakeTreasury(recorded_rows("2025-06-02"))
    treasury.urllib_transport = fake_treasury

    root = Path(mkdtemp(prefix="netliq-requests-")) / "data"
    report: dict = {"fred_series": len(in_snapshot), "runs": {},
                    "fred_series_unavailable": sorted(set(by_id.values()) - in_snapshot)}
    for run, day in (("first", dt.datetime(2026, 3, 31, 22, 0, tzinfo=dt.timezone.utc)),
                     ("next", dt.datetime(2026, 4, 1, 22, 0, tzinfo=dt.timezone.utc))):
        pipeline._now = lambda day=day: day
        treasury_before = len(fake_treasury.calls)
        began = time.monotonic()
        state = pipeline.daily(data_dir=str(root), return_state=True)
        wall = time.monotonic() - began
        result = state.result(raise_on_failure=False)
        mine = [c for c in calls if c["run"] == run]
        per_series = collections.Counter(c["series"] for c in mine)
        per_endpoint = collections.Counter(c["endpoint"] for c in mine)
        times = sorted(c["t"] for c in mine)
        busiest = max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)
        report["runs"][run] = {
            "status": getattr(result, "status", str(result)[:500]), "wall_s": wall,
            "fred_requests": len(mine), "per_series": dict(sorted(per_series.items())),
            "per_endpoint": dict(per_endpoint),
            "requests_per_series": sorted(set(per_series.values())),
            "busiest_minute": busiest, "within_limit": busiest <= FRED_PER_MINUTE,
            "realtime_start_asked": sorted({c["realtime_start"] or "(none: whole history)" for c in mine
                                            if c["endpoint"] == "series/observations"}),
            "treasury_requests": len(fake_treasury.calls) - treasury_before,
        }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_requests.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{report['fred_series']} FRED series answered by the fake "
          f"(unavailable, no request: {', '.join(report['fred_series_unavailable'])})")
    print("run | status | FRED requests | per series | series/vintagedates | series/observations | series | "
          "busiest minute (limit 120) | Treasury requests | realtime_start asked")
    for run, r in report["runs"].items():
        e = r["per_endpoint"]
        print(f"{run} | {r['status']} | {r['fred_requests']} | {r['requests_per_series']} | "
              f"{e.get('series/vintagedates', 0)} | {e.get('series/observations', 0)} | {e.get('series', 0)} | "
              f"{r['busiest_minute']} | {r['treasury_requests']} | {', '.join(r['realtime_start_asked'][:4])}")


if __name__ == "__main__":
    main()
