"""tests/fake_fred.py served over HTTP on loopback, for fetches made by other processes (Dask workers).

The fake answers in the test's process; each worker reaches it through `LoopbackTransport`,
installed at our transport boundary (`fred.urllib_transport`) by `install`, which the Dask test
runs in every worker as it starts (a worker plugin), so a worker that the nanny starts again gets
it too. Every request is logged where it arrives, with the time it arrived and the process that
sent it: what the rate limit is judged on.

- every FRED series of the registry that the snapshot holds is answered by its FakeFred; the
  others with FRED's own answer for a series that does not exist (HTTP 400), so they are
  unavailable (source failed) in every run alike;
- `kill_on(series, endpoint)`: the first request of that series to that endpoint kills (SIGKILL)
  the process that sent it, mid-fetch, and gets no answer;
- Yahoo prices and GLD shares are replayed from the snapshot, the Treasury from FakeTreasury (as in
  tests/test_pipeline_live.py).
"""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from tests.fake_fred import REGISTRY, SNAPSHOT, FakeFred

PID_HEADER = "X-Netliq-Pid"
NO_SUCH_SERIES = (b'<?xml version="1.0" encoding="utf-8" ?>\n'
                  b'<error code="400" message="Bad Request.  The series does not exist."/>')


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic() in the server's process when the request arrived
    series_id: str
    endpoint: str  # series | series/vintagedates | series/observations
    pid: int


@dataclass
class FakeFredServer:
    """The fakes of every registry FRED series behind one ThreadingHTTPServer on 127.0.0.1."""

    requests: list[Request] = field(default_factory=list)
    killed: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        specs = [spec for spec in REGISTRY.used() if spec.provider == "fred"]
        self.fakes = {spec.id: FakeFred(spec.key) for spec in specs if (SNAPSHOT / "fred" / f"{spec.id}.csv").exists()}
        self.missing = sorted({spec.id for spec in specs} - set(self.fakes))
        self._lock = threading.Lock()
        self._kill: set[tuple[str, str]] = set()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeFredServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kill_on(self, series_id: str, endpoint: str) -> None:
        with self._lock:
            self._kill.add((series_id, endpoint))

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.killed.clear()

    def answer(self, path: str, query: str, pid: int) -> tuple[int, bytes] | None:
        """(status, body) for one GET, or None: the sender was killed and gets no answer."""
        series_id = urllib.parse.parse_qs(query)["series_id"][0]
        endpoint = path.removeprefix("/fred/")
        request = Request(time.monotonic(), series_id, endpoint, pid)
        with self._lock:
            self.requests.append(request)
            kill = (series_id, endpoint) in self._kill and pid != os.getpid()
            if kill:
                self._kill.discard((series_id, endpoint))
                self.killed.append(request)
        if kill:
            os.kill(pid, signal.SIGKILL)
            return None
        fake = self.fakes.get(series_id)
        if fake is None:
            return 400, NO_SUCH_SERIES
        return 200, fake(f"https://api.stlouisfed.org{path}?{query}", timeout=1.0)


def _handler(server: FakeFredServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urllib.parse.urlsplit(self.path)
            got = server.answer(parts.path, parts.query, int(self.headers.get(PID_HEADER, "0")))
            if got is None:
                self.close_connection = True
                return
            status, body = got
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:  # noqa: A002 - the request line holds the key
            pass

    return Handler


@dataclass(frozen=True)
class LoopbackTransport:
    """A FRED transport (url, timeout) -> bytes sending FRED's path and query to the fake,
    naming this process; HTTP errors raise urllib's HTTPError as urlopen does."""

    base_url: str

    def __call__(self, url: str, timeout: float) -> bytes:
        parts = urllib.parse.urlsplit(url)
        request = urllib.request.Request(f"{self.base_url}{parts.path}?{parts.query}",
                                         headers={PID_HEADER: str(os.getpid())})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()


def install(base_url: str, setattr_=setattr) -> None:
    """Point this process's sources at the fakes: FRED at `base_url`, Yahoo at the snapshot,
    the Treasury at FakeTreasury. `setattr_`: pytest's monkeypatch.setattr in the test's process."""
    from flows.sources import fred, replay, treasury, yahoo
    from tests.fake_treasury import FakeTreasury, recorded_rows

    setattr_(fred, "urllib_transport", LoopbackTransport(base_url))
    setattr_(yahoo, "fetch", lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR))
    setattr_(yahoo, "fetch_shares", lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR))
    setattr_(treasury, "urllib_transport", FakeTreasury(recorded_rows("2025-06-02")))

