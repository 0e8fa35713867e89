"""cloudsim redirects only the cloud metadata hosts, to the kit IdP, and puts everything back."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wif_notebook import cloudsim, tokens
from wif_notebook.state import StateDir

# The kit tenant's resource application (idp.issuers.AZURE_RESOURCE_APP_ID), as TOKEN_RESOURCE.
IMDS = (
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
    "&resource=api%3A//3f9e2d1c-5b4a-4e8d-b7c6-a1f0e9d8c7b6"
)


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).seen.append(self.path)
        body = b"direct"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    """Some other service on 127.0.0.1 that is not the IdP."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _imds(url: str = IMDS) -> dict:
    request = urllib.request.Request(url, headers={"Metadata": "true", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_azure_imds_host_is_answered_by_the_kit_idp_and_other_loopback_traffic_goes_direct(
    kit: StateDir, local_server: str
) -> None:
    with cloudsim.simulate(kit):
        answer = _imds()
        with urllib.request.urlopen(f"{local_server}/not-metadata", timeout=5) as response:
            assert response.read() == b"direct"
    claims = tokens.decode(answer["access_token"]).claims
    assert claims["iss"].endswith("/v2.0") and answer["token_type"] == "Bearer"
    assert _Recorder.seen == ["/not-metadata"]  # reached the other server itself, not the IdP


def test_gcp_metadata_host_returns_the_raw_identity_token_for_the_chosen_service_account(
    kit: StateDir,
) -> None:
    url = "http://metadata/computeMetadata/v1/instance/service-accounts/default/identity?audience=aud-x"
    request = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
    with cloudsim.simulate(kit, principal="run-checkout"):
        with urllib.request.urlopen(request, timeout=5) as response:
            token = response.read().decode()
        [seen] = cloudsim.requests()
    claims = tokens.decode(token).claims
    assert claims["aud"] == "aud-x"
    assert claims["email"].startswith("run-checkout@")
    assert seen.url == url and seen.status == 200 and seen.claims["aud"] == "aud-x"
    assert token not in repr(seen)


def test_simulation_restores_the_previous_opener_on_exit(kit: StateDir) -> None:
    before = urllib.request.build_opener()
    urllib.request.install_opener(before)
    try:
        with cloudsim.simulate(kit):
            assert cloudsim.active()
            assert urllib.request._opener is not before  # type: ignore[attr-defined]
        assert not cloudsim.active()
        assert urllib.request._opener is before  # type: ignore[attr-defined]
    finally:
        urllib.request.install_opener(None)  # type: ignore[arg-type]


def test_enable_and_disable_switch_it_explicitly(kit: StateDir) -> None:
    urllib.request.install_opener(None)  # type: ignore[arg-type]
    target = cloudsim.enable(kit)
    try:
        assert target.startswith("http://127.0.0.1:")
        assert _imds()["access_token"]
    finally:
        assert cloudsim.disable() is True
    assert urllib.request._opener is None  # type: ignore[attr-defined]
    assert cloudsim.disable() is False


def test_a_principal_that_is_not_a_cloud_identity_is_refused(kit: StateDir) -> None:
    from wif_notebook.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        cloudsim.enable(kit, principal="billing-api")
    assert "not an Azure managed identity or Google service account" in info.value.what
    assert not cloudsim.active()


def test_the_metadata_servers_error_comes_back_as_an_http_error(kit: StateDir) -> None:
    import urllib.error

    unknown = IMDS.split("&resource=")[0] + "&resource=api%3A//no-such-app"
    with cloudsim.simulate(kit):
        with pytest.raises(urllib.error.HTTPError) as info:
            _imds(unknown)
        [seen] = cloudsim.requests()
    assert info.value.code == 400 and seen.status == 400
    assert b"invalid_resource" in info.value.read()
