"""SASL plumbing and SCRAM-SHA-256 (the kit's administrator), with pymongo and a raw conversation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import time
from typing import Any

import bson
import pytest
from pymongo.errors import OperationFailure

from wif_notebook.server import wire

from .conftest import HUMAN_CLIENT_ID, Idp, RunningServer, ServerFactory


def _connect(server: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.settimeout(5)
    return sock


def _command(sock: socket.socket, doc: dict[str, Any]) -> dict[str, Any]:
    sock.sendall(wire.encode_op_msg(doc, 1, 0))
    head = b""
    while len(head) < 16:
        head += sock.recv(16 - len(head))
    length = int.from_bytes(head[:4], "little")
    body = b""
    while len(body) < length - 16:
        body += sock.recv(length - 16 - len(body))
    return wire.parse_reply(head + body)[1]


def _scram_login(
    sock: socket.socket, user: str, password: str, *, skip_empty_exchange: bool
) -> dict[str, Any]:
    """A SCRAM-SHA-256 client (RFC 5802) sending base64-string payloads."""
    nonce = base64.b64encode(b"client-nonce-123456").decode()
    first_bare = f"n={user},r={nonce}"
    start: dict[str, Any] = {
        "saslStart": 1,
        "mechanism": "SCRAM-SHA-256",
        "payload": base64.b64encode(f"n,,{first_bare}".encode()).decode(),
        "$db": "admin",
    }
    if skip_empty_exchange:
        start["options"] = {"skipEmptyExchange": True}
    reply = _command(sock, start)
    assert reply["ok"] == 1.0 and reply["done"] is False and isinstance(reply["payload"], str)
    server_first = base64.b64decode(reply["payload"]).decode()
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
    final = f"{without_proof},p={proof}"
    reply = _command(
        sock,
        {
            "saslContinue": 1,
            "conversationId": reply["conversationId"],
            "payload": base64.b64encode(final.encode()).decode(),
            "$db": "admin",
        },
    )
    if reply["ok"] != 1.0:
        return reply
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = "v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
    assert base64.b64decode(reply["payload"]).decode() == expected
    if not skip_empty_exchange:
        assert reply["done"] is False
        reply = _command(sock, {"saslContinue": 1, "conversationId": 1, "payload": "", "$db": "admin"})
    assert reply["done"] is True
    return reply


def test_admin_logs_in_with_scram_sha_256(oidc_server: RunningServer) -> None:
    admin = oidc_server.admin_client()
    status = admin.admin.command("connectionStatus")
    assert status["authInfo"]["authenticatedUsers"] == [{"user": "admin", "db": "admin"}]
    # One login from the fixture's admin client, one from this one; pymongo speculates SCRAM in hello.
    entries = [e["attr"] for e in oidc_server.log_entries(20250) if e["attr"]["mechanism"] == "SCRAM-SHA-256"]
    assert [(a["principalName"], a["speculative"]) for a in entries] == [("admin", True), ("admin", True)]


def test_scram_without_skip_empty_exchange_takes_the_extra_step(oidc_server: RunningServer) -> None:
    assert oidc_server.admin is not None
    with _connect(oidc_server) as sock:
        _scram_login(sock, *oidc_server.admin, skip_empty_exchange=False)
        assert _command(sock, {"listDatabases": 1, "$db": "admin"})["ok"] == 1.0


def test_wrong_password_fails_with_18_and_logs_why(oidc_server: RunningServer) -> None:
    assert oidc_server.admin is not None
    client = oidc_server.client(username="admin", password="not-the-password", authSource="admin")
    with pytest.raises(OperationFailure) as info:
        client.admin.command("ping")
    assert info.value.code == 18
    errors = [e["attr"]["error"] for e in oidc_server.log_entries(20249)]
    assert any("storedKey mismatch" in e for e in errors)


def test_unknown_user_fails_with_18(oidc_server: RunningServer) -> None:
    client = oidc_server.client(
        username="nobody", password="x", authSource="admin", authMechanism="SCRAM-SHA-256"
    )
    with pytest.raises(OperationFailure) as info:
        client.admin.command("ping")
    assert info.value.code == 18
    assert 'UserNotFound: Could not find user "nobody" for db "admin"' in [
        e["attr"]["error"] for e in oidc_server.log_entries(20249)
    ]


def test_sasl_supported_mechs_lists_the_users_scram_mechanisms(oidc_server: RunningServer) -> None:
    with _connect(oidc_server) as sock:
        reply = _command(sock, {"hello": 1, "saslSupportedMechs": "admin.admin", "$db": "admin"})
        assert reply["saslSupportedMechs"] == ["SCRAM-SHA-256"]
        reply = _command(sock, {"hello": 1, "saslSupportedMechs": "admin.nobody", "$db": "admin"})
        assert "saslSupportedMechs" not in reply
    # pymongo negotiates the mechanism from that list when none is configured.
    assert oidc_server.admin is not None
    user, password = oidc_server.admin
    assert oidc_server.client(username=user, password=password).admin.command("ping")["ok"] == 1.0


def test_mechanism_that_is_not_enabled_is_refused_unmasked(make_server: ServerFactory, idp: Idp) -> None:
    server = make_server(mechanisms=("SCRAM-SHA-256",))
    with _connect(server) as sock:
        payload = bson.encode({"jwt": idp.token()})
        reply = _command(
            sock, {"saslStart": 1, "mechanism": "MONGODB-OIDC", "payload": payload, "$db": "$external"}
        )
        assert reply == {
            "ok": 0.0,
            "errmsg": "Unsupported mechanism 'MONGODB-OIDC' on authentication database '$external'",
            "code": 2,
            "codeName": "BadValue",
        }
        reply = _command(sock, {"saslStart": 1, "mechanism": "SCRAM-SHA-1", "payload": b"", "$db": "admin"})
        assert reply["errmsg"] == "Unsupported mechanism 'SCRAM-SHA-1' on authentication database 'admin'"


def test_oidc_only_on_external_and_scram_never_there(oidc_server: RunningServer, idp: Idp) -> None:
    with _connect(oidc_server) as sock:
        payload = bson.encode({"jwt": idp.token()})
        reply = _command(
            sock, {"saslStart": 1, "mechanism": "MONGODB-OIDC", "payload": payload, "$db": "admin"}
        )
        assert (reply["code"], reply["errmsg"]) == (
            2,
            "Unsupported mechanism 'MONGODB-OIDC' on authentication database 'admin'",
        )
        reply = _command(
            sock, {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,,n=a,r=x", "$db": "$external"}
        )
        assert reply["code"] == 2


def test_sasl_continue_checks_the_conversation(oidc_server: RunningServer) -> None:
    with _connect(oidc_server) as sock:
        reply = _command(sock, {"saslContinue": 1, "conversationId": 1, "payload": b"", "$db": "$external"})
        assert (reply["code"], reply["errmsg"]) == (17, "No SASL session state found")
        start = _command(
            sock,
            {
                "saslStart": 1,
                "mechanism": "MONGODB-OIDC",
                "payload": bson.encode({"n": "x"}),
                "$db": "$external",
            },
        )
        assert start["done"] is False
        reply = _command(sock, {"saslContinue": 1, "conversationId": 2, "payload": b"", "$db": "$external"})
        assert (reply["code"], reply["errmsg"]) == (17, "sasl: Mismatched conversation id")
        reply = _command(sock, {"saslStart": 1, "mechanism": "MONGODB-OIDC", "$db": "$external"})
        assert (reply["code"], reply["errmsg"]) == (
            40414,
            "BSON field 'saslStart.payload' is missing but a required field",
        )


def test_oidc_payload_as_base64_string_is_answered_as_a_string(oidc_server: RunningServer, idp: Idp) -> None:
    with _connect(oidc_server) as sock:
        step1 = _command(
            sock,
            {
                "saslStart": 1,
                "mechanism": "MONGODB-OIDC",
                "payload": base64.b64encode(bson.encode({"n": "lesson-app"})).decode(),
                "autoAuthorize": 1,
                "$db": "$external",
            },
        )
        assert step1["conversationId"] == 1 and step1["done"] is False
        info = bson.decode(base64.b64decode(step1["payload"]))
        assert info == {"issuer": idp.issuer, "clientId": HUMAN_CLIENT_ID, "requestScopes": ["openid"]}
        step2 = _command(
            sock,
            {
                "saslContinue": 1,
                "conversationId": 1,
                "payload": base64.b64encode(bson.encode({"jwt": idp.token("lesson-app")})).decode(),
                "$db": "$external",
            },
        )
        assert step2 == {"conversationId": 1, "done": True, "payload": "", "ok": 1.0}


def test_one_step_reply_is_done_with_an_empty_bindata(oidc_server: RunningServer, idp: Idp) -> None:
    with _connect(oidc_server) as sock:
        payload = bson.encode({"jwt": idp.token()})
        reply = _command(
            sock, {"saslStart": 1, "mechanism": "MONGODB-OIDC", "payload": payload, "$db": "$external"}
        )
        assert reply == {"conversationId": 1, "done": True, "payload": b"", "ok": 1.0}


def test_a_connection_authenticates_as_one_user_only(oidc_server: RunningServer, idp: Idp) -> None:
    assert oidc_server.admin is not None
    with _connect(oidc_server) as sock:
        _scram_login(sock, *oidc_server.admin, skip_empty_exchange=True)
        payload = bson.encode({"jwt": idp.token()})
        reply = _command(
            sock, {"saslStart": 1, "mechanism": "MONGODB-OIDC", "payload": payload, "$db": "$external"}
        )
        # The token was fine (no 18): the session rule refuses a second user, unmasked, as mongod.
        assert reply == {
            "ok": 0.0,
            "errmsg": "Each client connection may only be authenticated once. Previously authenticated as: "
            "admin@admin",
            "code": 5626701,
            "codeName": "Location5626701",
        }
        status = _command(sock, {"connectionStatus": 1, "$db": "admin"})
        assert status["authInfo"]["authenticatedUsers"] == [{"user": "admin", "db": "admin"}]
    [entry] = oidc_server.log_entries(5286307)
    assert entry["s"] == "D1" and entry["attr"]["error"].startswith("Location5626701: Each client connection")


def test_speculative_authentication_failure_is_omitted_and_hello_succeeds(oidc_server: RunningServer) -> None:
    with _connect(oidc_server) as sock:
        spec = {
            "saslStart": 1,
            "mechanism": "MONGODB-OIDC",
            "payload": bson.encode({"jwt": "bad"}),
            "db": "$external",
        }
        reply = _command(sock, {"hello": 1, "speculativeAuthenticate": spec, "$db": "admin"})
        assert reply["ok"] == 1.0 and "speculativeAuthenticate" not in reply
        # Without "db" the request is ignored altogether (not even logged as a failure).
        del spec["db"]
        _command(sock, {"hello": 1, "speculativeAuthenticate": spec, "$db": "admin"})
    assert [e["attr"]["speculative"] for e in oidc_server.log_entries(20249)] == [True]


def test_speculative_authentication_success_is_in_the_hello_reply(
    oidc_server: RunningServer, idp: Idp
) -> None:
    with _connect(oidc_server) as sock:
        spec = {
            "saslStart": 1,
            "mechanism": "MONGODB-OIDC",
            "payload": bson.encode({"jwt": idp.token()}),
            "db": "$external",
        }
        reply = _command(sock, {"ismaster": 1, "speculativeAuthenticate": spec, "$db": "admin"})
        assert reply["speculativeAuthenticate"] == {"conversationId": 1, "done": True, "payload": b""}
        assert _command(sock, {"find": "coll", "$db": "test"})["ok"] == 1.0


def test_expired_session_reauthenticates_only_as_the_same_user(oidc_server: RunningServer, idp: Idp) -> None:
    def sasl_start(token: str) -> dict[str, Any]:
        payload = bson.encode({"jwt": token})
        return _command(
            sock, {"saslStart": 1, "mechanism": "MONGODB-OIDC", "payload": payload, "$db": "$external"}
        )

    with _connect(oidc_server) as sock:
        assert sasl_start(idp.token("lesson-app", lifetime=2))["done"] is True
        time.sleep(2.1)  # exp = whole seconds: at most 2 s away
        expired = _command(sock, {"find": "coll", "$db": "test"})
        assert (expired["code"], expired["codeName"]) == (391, "ReauthenticationRequired")
        assert _command(sock, {"ping": 1, "$db": "admin"})["ok"] == 1.0  # ping needs no authentication
        status = _command(sock, {"connectionStatus": 1, "$db": "admin"})
        assert status["authInfo"]["authenticatedUsers"] == []  # the expired user left the session
        other = sasl_start(idp.token("billing-api"))
        assert (other["code"], other["errmsg"]) == (
            7070100,
            "Only same user is permitted to re-auth to an expired session. "
            "Expired user is kit/lesson-app@$external",
        )
        assert _command(sock, {"find": "coll", "$db": "test"})["code"] == 391  # still expired
        assert sasl_start(idp.token("lesson-app"))["done"] is True
        assert _command(sock, {"find": "coll", "$db": "test"})["ok"] == 1.0
