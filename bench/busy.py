"""A busy machine on demand: N CPU-bound processes for at most --seconds (a load of about N).

    python bench/busy.py 8 --seconds 900 &     # eight spinners, gone after 15 minutes at most

Used by bench/first_run.sh and by hand to try what a user sees on a 2-core machine that has
other work running. Every spinner stops by itself at the deadline, or with its parent.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import time


def _spin(deadline: float, parent: int) -> None:
    x = 0
    while time.monotonic() < deadline:
        for _ in range(200_000):
            x += 1
        if os.getppid() != parent:  # the parent is gone: so are we
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("processes", type=int, nargs="?", default=8)
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long (default 600)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    workers = [multiprocessing.Process(target=_spin, args=(deadline, os.getpid()), daemon=True)
               for _ in range(args.processes)]
    for w in workers:
        w.start()
    signal.signal(signal.SIGTERM, lambda *_: [w.terminate() for w in workers])
    for w in workers:
        w.join()


if __name__ == "__main__":
    main()
