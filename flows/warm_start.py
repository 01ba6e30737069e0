"""Served flow runs start warm: still a fresh process each, but forked, not a new interpreter.

`netliq serve` gives Prefect's runner the flow object (flows/serve.py, `Runner.add_flow`), and
the runner starts each run of it in a fresh process with multiprocessing's "spawn": a new
interpreter that imports Prefect, DuckDB and, on a day that publishes, Great Expectations
again, 1.5-3 s of every run before its first step (bench/bench_served.py). Here it uses
multiprocessing's "forkserver" instead: one server process, started once by `netliq serve`,
imports those libraries (PRELOAD) and then only forks, and each flow run is a fork of it.

- A run is as isolated as before: its own process, so a crash, a kill or a leak ends with it.
- A run imports netliq's own modules from disk itself, so code changed under a running
  `netliq serve` is what the next run executes; only the flow function's own body (a few
  lines that call `flows.pipeline._daily`) is the one `netliq serve` loaded, as with
  Prefect's own `flow.serve()`.
- The libraries are the ones installed when `netliq serve` started: restart it after
  upgrading them (the same holds for `netliq serve` itself).
- If the server dies, multiprocessing starts a new one for the next run, imports included.

Prefect (3.9) takes the start method from `multiprocessing.get_context("spawn")` inside
`prefect.flow_engine.run_flow_in_subprocess`; `install` points that one name at the
forkserver context, after checking that the installed Prefect still starts runs that way.
With any other Prefect it changes nothing and says so: runs then start as Prefect starts them.
"""

from __future__ import annotations

import inspect
import multiprocessing
import types

# What a flow run imports that costs time (bench_served's import lines): the engine itself,
# DuckDB, pandas (the frames the gate validates) and the gate's library (with pyarrow and
# numpy: 2.8 s of a day that publishes). The server imports them and never runs them, and the
# threads they start on import (numpy's OpenBLAS pool, pyarrow's jemalloc) are made
# consistent across fork by their own fork handlers. Not polars: it starts threads of its own
# on import, and its documentation asks for spawn or forkserver, not a fork of a process that
# has it loaded; each run imports it itself (0.1 s).
PRELOAD: tuple[str, ...] = ("prefect.flow_engine", "prefect.task_engine", "duckdb", "pandas", "great_expectations")
# the line of prefect.flow_engine.run_flow_in_subprocess this relies on
_SPAWN_LINE = 'multiprocessing.get_context("spawn")'


def install(preload: tuple[str, ...] = PRELOAD) -> str | None:
    """Make Prefect's runner start flow runs from a forkserver that has imported `preload`;
    start that server now (so the first run does not wait for its imports). Returns None
    when installed, else why not (the runs then start as Prefect starts them)."""
    from prefect import flow_engine

    try:
        source = inspect.getsource(flow_engine.run_flow_in_subprocess)
    except (AttributeError, OSError, TypeError) as exc:
        return f"prefect.flow_engine.run_flow_in_subprocess not found ({type(exc).__name__})"
    if _SPAWN_LINE not in source or not isinstance(flow_engine.multiprocessing, types.ModuleType):
        return "this Prefect does not start flow runs with multiprocessing's spawn context"
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    flow_engine.multiprocessing = _Multiprocessing(context)
    warm = context.Process(target=_ready, name="netliq-warm-start")
    warm.start()  # starts the server, which imports `preload` before it forks this one
    warm.join()
    return None


def _ready() -> None:
    """The first fork: `install` waits for it, so the server's imports are done before the
    first flow run."""


class _Multiprocessing(types.ModuleType):
    """`multiprocessing` as prefect.flow_engine sees it: the same module, except that the
    "spawn" context is the forkserver's."""

    def __init__(self, context) -> None:
        super().__init__("multiprocessing")
        self._context = context

    def get_context(self, method: str | None = None):
        return self._context if method == "spawn" else multiprocessing.get_context(method)

    def __getattr__(self, name: str):
        return getattr(multiprocessing, name)
