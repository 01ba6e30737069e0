"""A served flow that says how its process started (tests/test_warm_start.py): not a test."""

import json
import os
import sys
from pathlib import Path

from prefect import flow


@flow(name="warm-probe")
def probe(out: str, kill: bool = False) -> None:
    """Nothing this run does imports Great Expectations or polars: a fork of the warm server
    has the server's libraries already, a spawned interpreter only what Prefect's engine and
    unpickling the flow needed."""
    loaded = sorted(m for m in ("great_expectations", "duckdb", "polars") if m in sys.modules)
    Path(out).write_text(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "loaded": loaded}))
    if kill:  # a run's process killed mid-run (the OOM killer, a kill -9)
        os.kill(os.getpid(), 9)
