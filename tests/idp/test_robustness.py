"""Bad input never stops the IdP; the request log records every request without tokens or secrets."""

from __future__ import annotations

import json
import socket

import pytest
import yaml

from wif_notebook.idp.server import MAX_BODY

from .conftest import Idp, eventually


def _raw(idp: Idp, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", idp.port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _still_serving(idp: Idp) -> None:
    assert idp.get("/kit/.well-known/openid-configuration").status == 200


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xff\xfe garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /kit/jwks HTTP/9.9\r\n\r\n",
        b"POST /kit/token HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /kit/token HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",  # body shorter than announced
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"",
    ],
)
def test_garbage_on_the_socket_does_not_stop_the_idp(idp: Idp, data: bytes) -> None:
    _raw(idp, data)
    _still_serving(idp)


def test_huge_body_is_refused_with_413_without_reading_it(idp: Idp) -> None:
    reply = _raw(idp, f"POST /kit/token HTTP/1.1\r\nContent-Length: {MAX_BODY * 100}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"at most" in reply
    _still_serving(idp)


def test_chunked_body_is_refused_with_411(idp: Idp) -> None:
    reply = _raw(
        idp, b"POST /kit/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 411")
    _still_serving(idp)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/../../etc/passwd", None, 404),
        ("DELETE", "/kit/token", None, 405),
        ("PUT", "/_wif/mint", b"{}", 405),
        ("POST", "/_wif/mint", b"not json", 400),
        ("POST", "/_wif/mint", b"[1,2]", 400),
        ("POST", "/_wif/mint", b'{"principal": "nobody"}', 404),
        ("POST", "/_wif/mint", b'{"principal": "billing-api", "lifetime": -5}', 400),
        ("POST", "/_wif/mint", b'{"principal": 7}', 400),
        ("GET", "/_wif/nothing", None, 404),
        ("POST", "/kit/token", b"\xff\xfe\xfd", 400),
    ],
)
def test_bad_requests_get_json_errors_with_a_description(
    idp: Idp, method: str, path: str, body: bytes | None, status: int
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if path.endswith("token") else {}
    reply = idp.request(method, path, body=body, headers=headers)
    assert reply.status == status
    doc = reply.json()
    assert doc["error"] and doc["error_description"]
    _still_serving(idp)


def test_request_log_has_one_entry_per_request_and_no_tokens_or_secrets(idp: Idp) -> None:
    secret = idp.catalog_entry("billing-api")["client_secret"]
    token = idp.post_form(
        idp.token_path("kit"), {"grant_type": "client_credentials"}, headers=idp.basic("billing-api")
    ).json()["access_token"]
    idp.post_form(
        idp.token_path("kit"),
        {"grant_type": "client_credentials", "client_id": "billing-api", "client_secret": secret},
    )
    idp.get(
        "/computeMetadata/v1/instance/service-accounts/default/identity?audience=a&secret=s3cr3t",
        headers={"Metadata-Flavor": "Google"},
    )
    log_path = idp.state.logs_dir / "idp.log"
    # The entry is written just after the answer is sent.
    eventually(lambda: "computeMetadata" in log_path.read_text())
    text = log_path.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    grants = [e for e in entries if e["grant"] == "client_credentials" and e["status"] == 200]
    assert grants and grants[-1]["principal"] == "billing-api" and grants[-1]["issuer"] == "kit"
    for key in ("time", "method", "path", "issuer", "status", "grant", "principal", "client", "duration_ms"):
        assert key in entries[-1]
    assert token not in text and "eyJ" not in text
    assert secret not in text and "s3cr3t" not in text
    assert any(e.get("query") == "audience=a&secret=%5Bredacted%5D" for e in entries)


def test_a_broken_catalog_edit_is_reported_then_recovered(idp: Idp) -> None:
    path = idp.state.principals_file
    good = path.read_text()
    try:
        path.write_text(good.replace("kind: client-credentials", "kind: robot", 1))
        # The IdP looks at the file a few times a second.
        reply = eventually(lambda: idp.post_json("/_wif/mint", {"principal": "billing-api"}), status=500)
        assert "robot" in reply.json()["error_description"] and "line" in reply.json()["error_description"]
        _still_serving(idp)
    finally:
        path.write_text(good)
    eventually(lambda: idp.post_json("/_wif/mint", {"principal": "billing-api"}), status=200)


def test_an_added_principal_is_served_without_restart(idp: Idp) -> None:
    path = idp.state.principals_file
    doc = yaml.safe_load(path.read_text())
    assert not any(p["name"] == "late-app" for p in doc["principals"])
    with open(path, "a") as fh:
        fh.write(
            "\n  - {name: late-app, kind: client-credentials, issuer: kit,"
            " client_secret: s, groups: [late]}\n"
        )
    reply = eventually(lambda: idp.post_json("/_wif/mint", {"principal": "late-app"}), status=200)
    claims = idp.verify(reply.json()["token"], "kit")
    assert claims["sub"] == "late-app" and claims["groups"] == ["late"]


def _token_request(idp: Idp, *, extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    body = b"grant_type=client_credentials"
    auth = idp.basic("billing-api")["Authorization"].encode()
    return (
        b"POST /kit/token " + version + b"\r\n"
        b"content-type: application/x-www-form-urlencoded\r\n"  # header names in any case
        b"AUTHORIZATION: " + auth + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
    )


def test_header_names_are_case_insensitive_and_folded_lines_are_joined(idp: Idp) -> None:
    reply = _raw(idp, _token_request(idp, extra=b"X-Note: first\r\n  second\r\n"))
    assert reply.startswith(b"HTTP/1.1 200") and b'"access_token"' in reply


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (b"Content-Length: 5\r\n", b"400"),  # a second, different length: request smuggling
        (b"no colon here\r\n", b"400"),
        (b"".join(b"X-H%d: v\r\n" % i for i in range(101)), b"431"),
        (b"X-Long: " + b"v" * 70000 + b"\r\n", b"431"),
    ],
)
def test_malformed_headers_are_refused_with_json(idp: Idp, extra: bytes, status: bytes) -> None:
    reply = _raw(idp, _token_request(idp, extra=extra))
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:80]
    assert b'"error":"invalid_request"' in reply and b"Connection: close" in reply
    _still_serving(idp)


def test_expect_100_continue_gets_an_interim_answer(idp: Idp) -> None:
    reply = _raw(idp, _token_request(idp, extra=b"Expect: 100-continue\r\n"))
    assert reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200")


def test_connection_persistence_follows_the_http_version(idp: Idp) -> None:
    two = _token_request(idp) * 2
    assert _raw(idp, two).count(b"HTTP/1.1 200") == 2  # HTTP/1.1 keeps the connection
    assert _raw(idp, _token_request(idp, version=b"HTTP/1.0") * 2).count(b"HTTP/1.1 200") == 1
    closing = _token_request(idp, extra=b"Connection: close\r\n") + _token_request(idp)
    assert _raw(idp, closing).count(b"HTTP/1.1 200") == 1
