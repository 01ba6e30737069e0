"""Kill points for fault-injection tests: with NETLIQ_KILL_AT=<name> in the environment, the
process kills itself with SIGKILL when it reaches that point, as a power cut or `kill -9`
would stop it there. Unset (always, in normal use), a point does nothing."""

from __future__ import annotations

import os
import signal

# the points, in the order a publishing run passes them
POINTS = ("after-raw-append", "after-history-commit", "before-version-rename", "before-rename")


def point(name: str) -> None:
    if os.environ.get("NETLIQ_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
