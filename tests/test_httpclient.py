"""The one HTTP client: an injectable transport, errors with a next step, loopback never proxied."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from wif_notebook.errors import ServiceError
from wif_notebook.httpclient import Client, Request, Response, TransportError, is_loopback_host
from wif_notebook.state import StateDir


def test_a_test_transport_receives_the_request_and_its_answer_comes_back() -> None:
    seen: list[Request] = []

    def transport(request: Request) -> Response:
        seen.append(request)
        return Response(201, {"content-type": "application/json"}, b'{"ok": true}', request.url)

    client = Client(transport=transport, timeout=3, user_agent="lesson/1")
    answer = client.post("https://idp.example/token", data=b"a=1", headers={"Accept": "application/json"})
    assert answer.status == 201 and answer.ok and answer.json() == {"ok": True}
    [request] = seen
    assert (request.method, request.url, request.body, request.timeout) == (
        "POST",
        "https://idp.example/token",
        b"a=1",
        3,
    )
    assert request.headers == {"User-Agent": "lesson/1", "Accept": "application/json"}


def test_an_http_error_status_is_an_answer_not_an_exception() -> None:
    client = Client(transport=lambda r: Response(400, {}, b'{"error": "invalid_client"}', r.url))
    assert client.get("https://idp.example/x").status == 400


@pytest.mark.parametrize(
    ("kind", "words"),
    [("connect", "is the identity provider running"), ("tls", "kit CA"), ("timeout", "wif idp start")],
)
def test_no_answer_is_a_service_error_with_the_url_the_reason_and_a_next_step(kind: str, words: str) -> None:
    def transport(request: Request) -> Response:
        raise TransportError(kind, f"{kind} went wrong")

    with pytest.raises(ServiceError) as info:
        Client(transport=transport).get("https://localhost:1/kit/jwks")
    assert info.value.what == f"cannot reach https://localhost:1/kit/jwks: {kind} went wrong"
    assert info.value.hint is not None and words in info.value.hint


@pytest.fixture
def loopback_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_loopback_is_never_reached_through_a_proxy(
    loopback_server: int, monkeypatch: pytest.MonkeyPatch, state: StateDir
) -> None:
    # A proxy that does not exist: any request sent to it would fail to connect.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    for host in ("127.0.0.1", "localhost"):
        answer = Client(state=state).get(f"http://{host}:{loopback_server}/kit")
        assert answer.json() == {"path": "/kit"}


def test_other_hosts_follow_the_environment_proxy(monkeypatch: pytest.MonkeyPatch, state: StateDir) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(ServiceError) as info:
        Client(state=state, timeout=5).get("http://idp.example.invalid/kit")
    assert "connection refused" in info.value.what  # the proxy at 127.0.0.1:9, not a DNS failure


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
     ("169.254.169.254", False), ("metadata.google.internal", False), ("localhost.example", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
