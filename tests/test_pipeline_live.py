"""The flow in live mode (FRED + Yahoo), with FRED replayed from recorded real responses at
our transport boundary and a recognisable fake key that must appear nowhere."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from flows.pipeline import GateBlocked, daily
from flows.registry import load_registry
from flows import limits
from flows.sources import fred, replay, treasury, yahoo
from tests.fake_treasury import FakeTreasury, recorded_rows

pytestmark = pytest.mark.usefixtures("prefect_harness")

WIRE = Path(__file__).parent / "fixtures" / "wire"
FAKE_KEY = "NETLIQ-FAKE-KEY-7f3a9c1e5b"


def _recorded(url: str, timeout: float) -> bytes:
    """The real fredapi recordings: series info of PAYEMS (units 'Thousands of Persons') and
    four SP500 observations, served whatever series is asked for."""
    assert timeout > 0
    assert parse_qs(urlparse(url).query)["api_key"] == [FAKE_KEY]
    name = "fredapi_fixture_series_observations_SP500.xml" if "/series/observations" in url \
        else "fredapi_fixture_series_PAYEMS.xml"
    return (WIRE / name).read_bytes()


def test_units_change_at_the_source_blocks_and_the_key_leaks_nowhere(tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setenv("FRED_API_KEY", FAKE_KEY)
    monkeypatch.setattr(fred, "urllib_transport", _recorded)
    # FRED's shared rate limit is tested in tests/test_limits.py; here it would only make the
    # ~40 recorded requests queue for slots (1.75 a second after the first 15)
    monkeypatch.setattr(limits, "fred_throttle", lambda: None)
    # Yahoo's client path is replayed in tests/test_yahoo.py; here prices come from the snapshot
    monkeypatch.setattr(yahoo, "fetch", lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR))
    monkeypatch.setattr(yahoo, "fetch_shares", lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR))
    # the Treasury's statement from the fake fiscal-data API (rows built from the recorded file)
    monkeypatch.setattr(treasury, "urllib_transport", FakeTreasury(recorded_rows("2025-06-02")))
    root = tmp_path / "data"
    caplog.set_level("DEBUG")

    with pytest.raises(GateBlocked) as blocked:
        daily(data_dir=str(root))

    message = str(blocked.value)
    walcl = load_registry().role("fed_assets")
    assert f"raw.observations[{walcl.id}]: check units_unchanged failed" in message
    assert "Thousands of Persons" in message and walcl.native_units in message
    assert not (root / "netliq.duckdb").exists()

    out = capsys.readouterr()
    texts = [message, out.out, out.err, caplog.text]
    assert not any(FAKE_KEY in t for t in texts)
    for path in root.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), f"key found in {path}"
    # nor in the run's Prefect artifacts (the run summary)
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    assert artifacts and not any(FAKE_KEY in str(a.data) for a in artifacts)


def test_live_run_without_a_key_says_how_to_run_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("FRED_API_KEY", raising=False)
    with pytest.raises(fred.MissingApiKeyError, match="--offline"):
        daily(data_dir=str(tmp_path / "data"))


def test_the_key_can_come_from_a_prefect_secret_block(tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    monkeypatch.delenv("FRED_API_KEY", raising=False)
    Secret(value=FAKE_KEY).save(fred.SECRET_BLOCK, overwrite=True)
    try:
        assert fred.load_api_key(env={}).get_secret_value() == FAKE_KEY
        assert FAKE_KEY not in repr(fred.load_api_key(env={}))
    finally:
        Secret(value="").save(fred.SECRET_BLOCK, overwrite=True)
