"""The kit CA and the IdP's one port that speaks TLS and plain HTTP, tried with real clients."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wif_notebook import stack, tls
from wif_notebook.state import StateDir

from .conftest import Idp

PYTHON = sys.executable


def _handshake(host: str, port: int, context: ssl.SSLContext, server_name: str) -> dict[str, object]:
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as secured:
            cert = secured.getpeercert()
            assert cert is not None
            return dict(cert)


def _ca_only(state: StateDir) -> ssl.SSLContext:
    """A context that trusts the kit CA and nothing else: proves the chain, not the system store."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(tls.paths(state).ca_cert))
    return context


@pytest.mark.parametrize(("host", "name"), [("127.0.0.1", "localhost"), ("127.0.0.1", "127.0.0.1")])
def test_the_idp_certificate_chains_to_the_kit_ca_for_localhost_and_127_0_0_1(
    idp: Idp, host: str, name: str
) -> None:
    cert = _handshake(host, idp.port, _ca_only(idp.state), name)  # verified: chain and host name
    assert ("DNS", "localhost") in cert["subjectAltName"]  # type: ignore[operator]
    assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]  # type: ignore[operator]
    from cryptography import x509

    leaf = x509.load_pem_x509_certificate(tls.paths(idp.state).cert.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_a_client_that_does_not_trust_the_kit_ca_is_refused_and_the_idp_logs_why(idp: Idp) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake("127.0.0.1", idp.port, ssl.create_default_context(), "localhost")
    # The IdP writes its log line once the client's alert arrives: wait for it (bounded).
    deadline = time.monotonic() + 10
    while True:
        log = (idp.state.logs_dir / "idp.log").read_text().splitlines()
        if (
            any("TLS handshake failed" in line and "kit CA" in line for line in log)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.05)
    assert any("TLS handshake failed" in line and "kit CA" in line for line in log)


def test_the_same_port_answers_plain_http_with_http_urls_and_https_with_https_urls(idp: Idp) -> None:
    plain = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
    plain.request("GET", "/kit/.well-known/openid-configuration")
    over_http = json.loads(plain.getresponse().read())
    plain.close()
    secured = http.client.HTTPSConnection("localhost", idp.port, timeout=10, context=_ca_only(idp.state))
    secured.request("GET", "/kit/.well-known/openid-configuration")
    over_https = json.loads(secured.getresponse().read())
    secured.close()
    assert over_http["issuer"] == f"http://localhost:{idp.port}/kit"
    assert over_http["token_endpoint"] == f"http://localhost:{idp.port}/kit/token"
    assert over_https["issuer"] == f"https://localhost:{idp.port}/kit" == idp.issuer("kit")
    assert over_https["jwks_uri"].startswith("https://localhost:")


def test_the_kit_keys_are_private_and_the_tls_folder_is_0700(idp: Idp) -> None:
    tls.ca_bundle(idp.state)  # written on first ask
    files = tls.paths(idp.state)
    assert files.dir.stat().st_mode & 0o777 == 0o700
    for path in (files.ca_key, files.key, files.ca_cert, files.cert, files.bundle):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_requests_trusts_the_idp_through_the_ca_bundle_and_refuses_it_without(idp: Idp) -> None:
    pytest.importorskip("requests")
    url = f"{idp.base_url}/kit/.well-known/openid-configuration"
    script = f"import requests; print(requests.get({url!r}, timeout=10).json()['issuer'])"
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    without = subprocess.run([PYTHON, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert without.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in without.stderr
    bundle = tls.ca_bundle(idp.state)
    trusted = subprocess.run(
        [PYTHON, "-c", script],
        env={**env, "REQUESTS_CA_BUNDLE": str(bundle)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.strip() == idp.issuer("kit")
    # The bundle keeps the public roots: trusting the kit distrusts nothing else.
    assert bundle.read_text().count("BEGIN CERTIFICATE") > 50


def test_reset_rotates_the_kit_ca(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    first = tls.ensure(state).ca_cert.read_bytes()
    assert tls.ensure(state).ca_cert.read_bytes() == first, "created once, then reused"
    stack.reset(state)
    assert not tls.exists(state)
    second = tls.ensure(state).ca_cert.read_bytes()
    assert second != first
    leaf = tls.paths(state).cert.read_bytes()
    # The new leaf is signed by the new CA.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=second.decode())
    from cryptography import x509

    assert x509.load_pem_x509_certificate(leaf).issuer == x509.load_pem_x509_certificate(second).subject


def _without_kit_trust() -> dict[str, str]:
    """This environment without any CA bundle variable, and with the kit on the Python path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
    }
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).parents[2]), env.get("PYTHONPATH")) if p
    )
    return env


def _after_wif_env(idp: Idp, command: str, *options: str) -> subprocess.CompletedProcess[str]:
    """``command`` in bash after ``eval "$(wif env [OPTIONS])"``, as a learner's shell runs it."""
    wif = f"{shlex.quote(PYTHON)} -m wif_notebook.cli env --state-dir {shlex.quote(str(idp.state.path))}"
    script = f'eval "$({wif} {" ".join(map(shlex.quote, options))})" && {command}'
    done = subprocess.run(
        ["bash", "-c", script], env=_without_kit_trust(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def test_wif_env_for_a_kit_principal_gets_a_token_with_plain_requests_in_bash(idp: Idp) -> None:
    pytest.importorskip("requests")
    program = (
        "import os, requests\n"
        "issuer = os.environ['OIDC_ISSUER']\n"
        "doc = requests.get(issuer + '/.well-known/openid-configuration', timeout=10).json()\n"
        "answer = requests.post(doc['token_endpoint'], timeout=10, data={'grant_type': 'client_credentials',"
        " 'audience': os.environ['OIDC_AUDIENCE']},"
        " auth=(os.environ['OIDC_CLIENT_ID'], os.environ['OIDC_CLIENT_SECRET']))\n"
        "answer.raise_for_status()\n"
        "token = answer.json()\n"
        "print(doc['token_endpoint'], token['token_type'], len(token['access_token']) > 100)\n"
    )
    done = _after_wif_env(
        idp, f"{shlex.quote(PYTHON)} -c {shlex.quote(program)}", "--principal", "billing-api"
    )
    assert done.stdout.split() == [f"https://localhost:{idp.port}/kit/token", "Bearer", "True"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the curl command is not installed")
def test_after_wif_env_curl_reaches_the_https_issuer_and_still_trusts_nothing_else(idp: Idp) -> None:
    discovery = f"https://localhost:{idp.port}/kit/.well-known/openid-configuration"
    done = _after_wif_env(idp, f"curl -sS --fail {shlex.quote(discovery)}")
    assert json.loads(done.stdout)["issuer"] == f"https://localhost:{idp.port}/kit"
    without = subprocess.run(
        ["curl", "-sS", discovery], env=_without_kit_trust(), capture_output=True, timeout=60
    )
    assert without.returncode == 60, (
        "curl trusted the kit CA without wif env"
    )  # CURLE_PEER_FAILED_VERIFICATION


def test_wif_env_prints_the_ca_variables_and_keeps_secrets_for_principal_requests(
    idp: Idp, capsys: pytest.CaptureFixture[str]
) -> None:
    from wif_notebook.cli import main

    assert main(["env", "--state-dir", str(idp.state.path)]) == 0
    plain = capsys.readouterr().out
    bundle = str(tls.paths(idp.state).bundle)
    assert f"export REQUESTS_CA_BUNDLE={bundle}" in plain and f"export SSL_CERT_FILE={bundle}" in plain
    assert f"export NODE_EXTRA_CA_CERTS={bundle}" in plain
    assert "SECRET" not in plain and "SECRET" not in idp.state.env_file.read_text()
    assert main(["env", "--state-dir", str(idp.state.path), "--principal", "billing-api"]) == 0
    assert "export OIDC_CLIENT_SECRET=" in capsys.readouterr().out
    assert "SECRET" not in idp.state.env_file.read_text(), "the env file never holds a secret"


def test_every_explainer_checks_an_https_token_with_keys_fetched_through_the_kit_ca(idp: Idp) -> None:
    """The key sets of `wif claims`, the token display, the inspector and the doctor all come from
    one factory (``keyset_for``) that trusts the kit CA of the state directory: each one loads the
    https issuer's JWKS and passes the signature rule (a key set built any other way cannot)."""
    from wif_notebook import display, doctor, token_cli
    from wif_notebook.widgets.inspector import rule_verdict

    token = str(idp.mint(principal="billing-api")["token"])
    assert token_cli.analyse(token, idp.state)["signature"]["verified"] is True
    explained = {
        "wif claims": token_cli.analyse(token, idp.state)["rules"],
        "display": (display.verdict(token, idp.state) or {})["rules"],
        "inspector": [{"rule": r.rule, "passed": r.passed} for r in rule_verdict(token, idp.state)[0]],
        "doctor": [
            {"rule": r.rule, "passed": r.passed} for r in doctor.diagnose(token, state=idp.state).rules
        ],
    }
    for where, rules in explained.items():
        passed = {r["rule"]: r["passed"] for r in rules}
        assert passed.get("key.kid") is True and passed.get("signature") is True, (where, rules)


@contextlib.contextmanager
def _serving_once(server_side: ssl.SSLContext) -> Iterator[int]:
    """A loopback TLS listener that presents ``server_side``'s certificate to one client."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_one() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):  # a client that refuses the certificate
            with server_side.wrap_socket(conn, server_side=True) as secured:
                secured.sendall(b"ok")

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(10)
        listener.close()


def test_a_fixed_cloud_host_gets_a_kit_certificate_a_kit_client_accepts(tmp_path: Path) -> None:
    """What a loopback proxy answering for login.microsoftonline.com presents: a leaf from the kit CA."""
    state = StateDir(tmp_path / "state")
    with _serving_once(tls.host_context(state, ["login.microsoftonline.com"])) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with tls.client_context(state).wrap_socket(raw, server_hostname="login.microsoftonline.com") as c:
                assert ("DNS", "login.microsoftonline.com") in c.getpeercert()["subjectAltName"]  # type: ignore[index,operator]
                assert c.recv(2) == b"ok"
    key = tls.paths(state).dir / "hosts" / "login.microsoftonline.com-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    issued = key.with_name("login.microsoftonline.com.pem").read_bytes()
    tls.host_context(state, ["login.microsoftonline.com"])
    assert key.with_name("login.microsoftonline.com.pem").read_bytes() == issued, "reused, not re-issued"


def test_the_kit_ca_cannot_vouch_for_any_other_site_even_with_its_key(tmp_path: Path) -> None:
    """Trusting the kit CA (wif env) must not let whoever reads its key impersonate another site:
    a certificate it signs for a host outside its name constraints is refused by the client."""
    state = StateDir(tmp_path / "state")
    from cryptography import x509

    ca = x509.load_pem_x509_certificate(tls.ensure(state).ca_cert.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = {str(n.value) for n in constraints.value.permitted_subtrees or []}
    assert {"localhost", "login.microsoftonline.com", "www.googleapis.com", "127.0.0.1/32"} <= permitted
    forged = tls.host_context(state, ["www.example.com"])  # signed by the kit CA's own key
    with _serving_once(forged) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with pytest.raises(ssl.SSLCertVerificationError, match="permitted subtree violation"):
                tls.client_context(state).wrap_socket(raw, server_hostname="www.example.com")
