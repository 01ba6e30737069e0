"""prefect.yaml's pull step (flows/workdir.py): a deployed run changes into the netliq checkout,
whichever directory its worker was started from, or stops saying what to set."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import yaml

from flows import workdir

ROOT = Path(__file__).resolve().parents[1]


def _checkout(folder: Path) -> Path:
    for marker in workdir.MARKERS:
        (folder / marker).parent.mkdir(parents=True, exist_ok=True)
        (folder / marker).write_text("")
    return folder


def test_prefect_yaml_pulls_with_this_step_and_prefect_runs_it_from_another_directory(prefect_harness, tmp_path,
                                                                                      monkeypatch):
    """Prefect's own step runner (it resolves blocks and variables through the API: the harness)."""
    pull = yaml.safe_load((ROOT / "prefect.yaml").read_text())["pull"]
    assert pull == [{"flows.workdir.enter_checkout": {}}]
    from prefect.deployments.steps.core import run_step

    monkeypatch.delenv(workdir.HOME_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # the worker's directory, not the checkout
    monkeypatch.setenv("PWD", str(tmp_path))
    output = asyncio.run(run_step(pull[0]))
    assert output == {"directory": str(ROOT)} and Path.cwd() == ROOT
    assert Path("flows/pipeline.py").is_file()  # the deployments' entrypoint, relative to it


def test_netliq_home_names_another_checkout(tmp_path, monkeypatch):
    other = _checkout(tmp_path / "elsewhere" / "netliq")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(workdir.HOME_ENV, str(other))
    assert workdir.enter_checkout() == {"directory": str(other)} and Path.cwd() == other


def test_a_directory_that_is_not_a_checkout_stops_the_run_saying_what_to_set(tmp_path, monkeypatch):
    half = tmp_path / "half"
    (half / "flows").mkdir(parents=True)
    (half / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(workdir.NotACheckout) as stopped:
        workdir.checkout_directory({workdir.HOME_ENV: str(half)})
    message = str(stopped.value)
    assert f"NETLIQ_HOME={half} has no prefect.yaml, flows/pipeline.py" in message
    assert "set NETLIQ_HOME in the worker's environment" in message
    assert Path.cwd() == tmp_path  # nothing changed


def test_an_install_outside_a_checkout_is_refused_too(tmp_path, monkeypatch):
    monkeypatch.setattr(workdir, "installed_checkout", lambda: tmp_path / "site-packages")
    with pytest.raises(workdir.NotACheckout, match=r"the directory netliq is installed from .*site-packages\) has no "
                                                   r"pyproject.toml, prefect.yaml, flows/pipeline.py"):
        workdir.checkout_directory({})
    # an empty NETLIQ_HOME is not set
    with pytest.raises(workdir.NotACheckout, match="installed from"):
        workdir.checkout_directory({workdir.HOME_ENV: " "})
