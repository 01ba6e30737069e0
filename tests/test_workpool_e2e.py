"""bench/workpool_e2e.py, the operator's path with prefect.yaml: a Prefect server, a process work
pool, `prefect deploy --all`, a worker started outside the checkout, the daily and the as-of
deployments run by it, the published file and the artifacts checked; nothing left running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_deployments_run_on_a_process_work_pool_from_any_directory(tmp_path):
    out = tmp_path / "workpool_e2e.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "workpool_e2e.py"), "--json", str(out)],
                          capture_output=True, text=True, timeout=1800)
    print(done.stdout)  # the figures, with the load average
    report = json.loads(out.read_text())
    assert done.returncode == 0 and report["problems"] == [], done.stdout + done.stderr
    assert [(r["deployment"], r["final_state"]) for r in report["runs"]] == [
        ("netliq-daily/netliq-daily", "COMPLETED"), ("netliq-daily/netliq-as-of", "COMPLETED")]
    assert all(r["completed_s"] > r["running_s"] > r["pending_s"] > 0 for r in report["runs"])
    # torn down: the server answers no more, and its temporary directory is gone
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{report['api']}/health", timeout=2)
    assert not Path(report["tmp"]).exists()
