"""The report redrawn after a publish or a rollback, in a process of its own that the run
does not wait for.

Why a process, not a thread or a call: the run's outcome is recorded before the report
starts, and nothing the report does can change it. A report that raises, hangs or runs out
of memory does so in its own process; the run's process imports none of the report's
packages (Altair, vl-convert) and exits when its own work is done (a served flow run ends
with its process: a thread would die with it, a process survives it). The drawing process
takes a lock in the report folder, so two publishes in a row draw one after the other, and
each draws from the published file as it is when it starts: the last page is the last
version's. It gives up after REPORT_TIMEOUT_S. What it did goes to <report dir>/report.log.

    python -m flows.report_job PUBLISHED_FILE REPORT_DIR     # what start() runs
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

REPORT_TIMEOUT_S = 300
REPORT_NICE = 10
LOG_NAME = "report.log"
LOCK_NAME = ".drawing.lock"
ROOT = Path(__file__).resolve().parents[1]


def command(published: Path, out_dir: Path) -> list[str]:
    """The drawing process's command line (tests replace it with one that fails or hangs)."""
    return [sys.executable, "-m", "flows.report_job", str(published), str(out_dir)]


def start(published: Path, out_dir: Path) -> subprocess.Popen:
    """Start drawing the report of `published` into `out_dir`, detached (own session, so a
    Ctrl-C or the end of the run's process does not stop it); returns at once."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOG_NAME, "ab") as output:
        return subprocess.Popen(command(published, out_dir), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def main(argv: list[str] | None = None) -> int:
    """Draw the report (the lock first, then build_report); 0 when it was written."""
    import fcntl

    published, out_dir = (Path(a) for a in (argv if argv is not None else sys.argv[1:]))
    signal.alarm(REPORT_TIMEOUT_S)  # SIGALRM's default action ends the process: a hang ends too
    # below the runs: on 2 cores a run triggered while the last publish's report draws waited
    # for it (bench_served --report: an unchanged run 14 s instead of 7)
    os.nice(REPORT_NICE)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK_NAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a drawing still running: wait for it, then draw the newer file
        from flows.report import build_report

        try:
            result = build_report(published, out_dir)
        except Exception as exc:  # noqa: BLE001 - said in the log; the publish is done either way
            print(f"{_stamp()} report of {published} not written: {type(exc).__name__}: {exc}", flush=True)
            return 1
    print(f"{_stamp()} report of version {result.version}: page in {result.page_seconds:.1f} s, "
          f"{len(result.pngs)} PNGs by {result.seconds:.1f} s: {result.html}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    sys.exit(main())
