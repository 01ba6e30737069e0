"""Processes the benchmarks start and must always stop: a Prefect server, a worker, `netliq serve`.

Each runs in a session of its own, so stop() ends it together with every child it started
(flow-run processes of a worker or of `serve`): SIGINT, then SIGTERM, then SIGKILL to the group.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """`cmd` in `cwd` with `env`, its output into `log`, in a session of its own."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "w")
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen | None, interrupt_wait_s: float = 10) -> None:
    """End `proc`'s whole process group: SIGINT (waiting `interrupt_wait_s`), SIGTERM, SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, interrupt_wait_s), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
