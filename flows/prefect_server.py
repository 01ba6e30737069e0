"""The temporary Prefect server of a netliq run, owned by the run: it cannot outlive it.

Why: with no PREFECT_API_URL, Prefect's client lazily starts a temporary API server
(`SubprocessASGIServer`, a uvicorn child process) and stops it from an `atexit` hook. A
netliq process killed with SIGKILL runs no atexit hook, so that server kept running (seen for
20+ minutes). `owned_server()` starts that server itself, before Prefect would, so that:

- on Linux the server child carries PR_SET_PDEATHSIG=SIGKILL, so the kernel kills it when
  netliq dies, however it dies; the child checks after setting it that netliq is still its
  parent, closing the race where netliq died between fork and prctl;
- Prefect is pointed at it (PREFECT_API_URL) for the duration, and the same instance is
  registered where Prefect's internal code looks for "the" temporary server, so nothing in
  Prefect starts a second, unowned one (the same trick as `prefect_test_harness`);
- it is stopped on leaving the block, normally or by any exception (KeyboardInterrupt too),
  after the queued logs and events were sent to it.

How: a subclass of Prefect's `SubprocessASGIServer` that overrides only `_run_uvicorn_command`,
the method that creates the Popen, to add `preexec_fn`. Prefect's own `start` (port choice, the
retry on a taken port, the health wait, the timeout) and `stop` are used as they are. Prefect
builds the Popen inside that method with no hook, so the override repeats its command and
environment; tests/test_prefect_server.py compares the two, so a Prefect upgrade that changes
them fails a test instead of drifting silently. Patching `subprocess.Popen` around Prefect's
method was the alternative, rejected: it is process-global, so any thread starting a process
meanwhile would get the death signal too.

`preexec_fn` runs between fork and exec, where Python warns that a thread holding a lock at the
fork can deadlock the child. The child here makes one foreign call (libc's prctl, resolved
before the fork) and one getppid, and takes no lock. PDEATHSIG fires when the *thread* that
forked the child ends: enter the block in the thread that runs the flow (netliq's main thread)
and keep it there.

Where there is no prctl (not Linux), or the user has a PREFECT_API_URL (their server is
theirs), `owned_server()` does nothing and Prefect behaves as it always does: on those other
systems, a SIGKILLed run can still leave Prefect's temporary server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    get_current_settings,
    temporary_settings,
)

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# resolved once, in the parent: the child between fork and exec should do as little as possible
_prctl = _load_prctl()


def _die_with(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        if _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            # a server we cannot tie to netliq is the very leak this module exists to prevent
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # netliq died before the prctl: no signal will come
            os._exit(1)

    return preexec


class OwnedServer(SubprocessASGIServer):
    """Prefect's temporary server, started so that it dies with the process that started it."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        args, env = uvicorn_command(self.port)
        return subprocess.Popen(args=args, env=env, preexec_fn=_die_with(os.getpid()))


def uvicorn_command(port: int | None) -> tuple[list[str], dict[str, str]]:
    """What Prefect 3.9's `SubprocessASGIServer._run_uvicorn_command` runs (kept in step by a test)."""
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
            "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1", **get_current_settings().to_environment_variables(exclude_unset=True)}
    return args, env


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def owned_server(startup_timeout_s: float | None = None) -> Iterator[OwnedServer | None]:
    """Run the block against a temporary Prefect server that cannot outlive this process.

    Yields the running server, or None when nothing was started (a PREFECT_API_URL is set, or
    there is no prctl). `startup_timeout_s` is how long to wait for it to answer; None means
    Prefect's own setting, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.
    """
    if PREFECT_API_URL.value() or _prctl is None:
        yield None
        return
    timeout = startup_timeout_s or PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    server = OwnedServer(port=_free_port())
    # Prefect's internals (event and log clients, a client made in a thread that missed the
    # settings below) call SubprocessASGIServer() for "the" temporary server: let them find ours
    prior_default = SubprocessASGIServer._instances.get(None)
    SubprocessASGIServer._instances[None] = server
    try:
        server.start(timeout=timeout)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server
            finally:
                _send_queued_logs_and_events()
    finally:
        server.stop()
        atexit.unregister(server.stop)  # registered by Prefect's start; nothing left to stop
        if prior_default is not None:
            SubprocessASGIServer._instances[None] = prior_default
        else:
            SubprocessASGIServer._instances.pop(None, None)


def _send_queued_logs_and_events(timeout_s: float = 30) -> None:
    # Prefect sends logs and events from background workers; stopping the server under them
    # would lose the run's last records and print connection errors at exit
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            pending = worker.drain_all(timeout=timeout_s, at_exit=False)
            if hasattr(pending, "close"):  # a coroutine: the caller is inside an event loop
                pending.close()
        except Exception:  # losing a log line must not turn a finished run into a failed one
            log.debug("could not drain %s", worker.__name__, exc_info=True)
