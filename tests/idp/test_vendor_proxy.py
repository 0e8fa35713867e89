"""The IdP's vendor-host proxy, as a client behind HTTPS_PROXY meets it: CONNECT to the vendor hosts
the cloud registry declares, a kit-CA certificate for exactly that host, the kit's answers at the
vendor's paths, and a 403 with its reason for everything else."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from cryptography import x509

from wif_notebook import clouds, tls
from wif_notebook.idp.issuers import AZURE_TENANT_ID

from .conftest import Idp, eventually


def _proxy_port(idp: Idp) -> int:
    port = urlsplit(idp.record.extra["vendor_proxy"]).port
    assert port is not None and port != idp.port
    return port


def _raw(idp: Idp, request: bytes) -> tuple[str, dict[str, Any]]:
    """Send ``request`` to the proxy as it is; (status line, JSON body) of the answer."""
    with socket.create_connection(("127.0.0.1", _proxy_port(idp)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), json.loads(body)


@pytest.mark.parametrize(
    "request_line",
    [
        "CONNECT example.com:443 HTTP/1.1",
        "CONNECT login.microsoftonline.com:80 HTTP/1.1",
        "GET http://example.com/ HTTP/1.1",
        "GET http://www.googleapis.com/oauth2/v1/certs HTTP/1.1",
    ],
    ids=["other-host", "vendor-host-other-port", "absolute-uri", "vendor-host-in-the-clear"],
)
def test_the_proxy_refuses_anything_but_a_vendor_host_tunnel_and_says_why(
    idp: Idp, request_line: str
) -> None:
    host = request_line.split()[1].removeprefix("http://").split("/")[0]
    status, body = _raw(idp, f"{request_line}\r\nHost: {host}\r\n\r\n".encode())
    assert status.startswith("HTTP/1.1 403")
    message = body["error_description"]
    assert "answers only for login.microsoftonline.com, www.googleapis.com" in message
    assert request_line.rsplit(" ", 1)[0] in message
    assert "HTTPS_PROXY" in message and "NO_PROXY" in message


def test_a_refused_proxy_request_neither_echoes_nor_logs_its_query(idp: Idp) -> None:
    request = b"GET http://example.com/token?client_secret=s3cret-value HTTP/1.1\r\nHost: example.com\r\n\r\n"
    status, body = _raw(idp, request)
    assert status.startswith("HTTP/1.1 403")
    assert "GET http://example.com/token" in body["error_description"]
    assert "s3cret-value" not in body["error_description"]
    log = (idp.state.path / "logs" / "idp.log").read_text()
    assert '"path":"http://example.com/token"' in log and "s3cret-value" not in log


def _tunnel(idp: Idp, host: str, context: ssl.SSLContext) -> http.client.HTTPSConnection:
    """The standard library's own CONNECT client, as requests and urllib use it."""
    conn = http.client.HTTPSConnection("127.0.0.1", _proxy_port(idp), context=context, timeout=10)
    conn.set_tunnel(host, 443)
    return conn


def test_a_vendor_hosts_certificate_is_the_kit_cas_for_that_host_only(idp: Idp) -> None:
    ca_file = tls.paths(idp.state).ca_cert
    only_the_kit_ca = ssl.create_default_context(cafile=str(ca_file))
    conn = _tunnel(idp, "login.microsoftonline.com", only_the_kit_ca)
    try:
        conn.connect()
        assert conn.sock is not None
        der = conn.sock.getpeercert(binary_form=True)
    finally:
        conn.close()
    assert der is not None
    leaf = x509.load_der_x509_certificate(der)
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["login.microsoftonline.com"]
    assert names.get_values_for_type(x509.IPAddress) == []
    key = tls.paths(idp.state).dir / "hosts" / "login.microsoftonline.com-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    # A client with the public roots alone (no kit CA) refuses it: nothing public vouches for it.
    public_roots_only = _tunnel(idp, "www.googleapis.com", ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        public_roots_only.connect()
    public_roots_only.close()
    log = idp.state.path / "logs" / "idp.log"
    eventually(lambda: "TLS handshake failed" in log.read_text() and "trust the kit CA?" in log.read_text())


def _get(idp: Idp, host: str, path: str) -> tuple[int, Any]:
    conn = _tunnel(idp, host, tls.client_context(idp.state))
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def test_the_vendor_paths_get_the_kits_own_answers_and_no_other_path_is_served(idp: Idp) -> None:
    query = urlencode(
        {
            "authorization_endpoint": f"https://localhost/{AZURE_TENANT_ID}/oauth2/v2.0/authorize",
            "api-version": "1.0",
        }
    )
    status, doc = _get(idp, "login.microsoftonline.com", f"/common/discovery/instance?{query}")
    assert status == 200
    assert doc["tenant_discovery_endpoint"] == (
        f"https://localhost:{idp.port}/{AZURE_TENANT_ID}/v2.0/.well-known/openid-configuration"
    )
    status, certs = _get(idp, "www.googleapis.com", "/oauth2/v1/certs")
    assert status == 200 and certs == idp.get("/gcp/oauth2/v1/certs").json()
    status, jwks = _get(idp, "www.googleapis.com", "/oauth2/v3/certs")
    assert status == 200 and jwks == idp.jwks("gcp")
    status, refused = _get(idp, "www.googleapis.com", "/oauth2/v3/tokeninfo")
    assert status == 404
    assert refused["error_description"] == (
        "the wif-notebook kit answers only /oauth2/v1/certs, /oauth2/v3/certs on https://www.googleapis.com, "
        "not /oauth2/v3/tokeninfo"
    )
    assert set(clouds.vendor_hosts()) == {"login.microsoftonline.com", "www.googleapis.com"}
