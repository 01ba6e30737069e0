"""One netliq run at a time per data directory: a second run refuses at once, clearly.

The CLI takes the lock before anything heavy starts (Prefect, the sources), so a second run
is refused in milliseconds; the flow takes it again for runs that do not come through the
CLI (a served deployment). Within one process the lock is re-entrant: flock locks belong to
an open file, so a second open() in the same process would refuse its own run.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".netliq.lock"

_held: set[Path] = set()  # data dirs whose lock this process holds


class RunInProgress(RuntimeError):
    pass


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    root = root.resolve()
    if root in _held:  # a nested run_lock: the outer one holds it and lets it go
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(f"another netliq run (pid {holder(root) or 'unknown'}) is using {root}; "
                                "not starting a second one: wait for it, or see `netliq status`") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _held.add(root)
        try:
            yield
        finally:
            _held.discard(root)
    finally:
        handle.close()


def holder(root: Path) -> str | None:
    """The pid written by the run that holds (or last held) the lock; reading never locks."""
    try:
        return (root / LOCK_FILE).read_text().strip() or None
    except OSError:
        return None
