"""The magics in a real IPython shell, against the real services."""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from wif_notebook import connect, lessons, ports
from wif_notebook.idp.service import start_idp, stop_idp
from wif_notebook.state import StateDir

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ")
TOKEN_MIME = "application/vnd.wif.token+json"
STATUS_MIME = "application/vnd.wif.status+json"
FLOW_MIME = "application/vnd.wif.flow+json"


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    from IPython.core.getipython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    start_ipython()  # once per process; later calls return None and keep the same shell
    ip = get_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "wif_notebook")
    return ip


@pytest.fixture
def ip(shell: InteractiveShell, kit: StateDir) -> Iterator[InteractiveShell]:
    shell.run_line_magic("config", f"WifMagics.state_dir = {str(kit.path)!r}")
    shell.run_line_magic("config", "WifMagics.show_raw_tokens = False")
    shell.run_line_magic("config", "WifMagics.connect_timeout_ms = 5000")
    yield shell


def run(ip: InteractiveShell, line: str) -> tuple[Any, list[dict[str, Any]]]:
    """Run one line magic; its result and every rich output it displayed (MIME bundles)."""
    name, _, rest = line.lstrip("%").partition(" ")
    with capture_output() as captured:
        result = ip.run_line_magic(name, rest)
    return result, [o.data for o in captured.outputs]


def _no_raw_jwt(outputs: list[dict[str, Any]]) -> None:
    for bundle in outputs:
        assert not JWT.search(json.dumps(bundle, ensure_ascii=False)), "a raw JWT was displayed"


def test_loading_the_extension_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'wif_notebook')\n"
        "heavy = ('pymongo', 'matplotlib', 'ipywidgets', 'yaml', 'jwt', 'wif_notebook.clouds')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(sorted(ip.magics_manager.magics['line']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, magics = out.splitlines()
    assert heavy == "[]"  # nor the cloud registry: it loads when a magic first needs it
    for name in (
        "wif_up", "wif_status", "wif_reset", "wif_idp", "wif_token", "wif_claims", "wif_mongod",
        "wif_authorize", "wif_connect", "wif_doctor", "wif_flow",
    ):  # fmt: skip
        assert f"'{name}'" in magics


def test_config_options_are_traitlets(ip: InteractiveShell, kit: StateDir) -> None:
    magics = ip.magics_manager.registry["WifMagics"]
    assert magics.state_dir == str(kit.path)
    ip.run_line_magic("config", "WifMagics.default_principal = 'billing-api'")
    try:
        assert magics.default_principal == "billing-api"
        _, outputs = run(ip, "%wif_token")
        assert outputs[0][TOKEN_MIME]["claims"]["sub"] == "billing-api"
    finally:
        ip.run_line_magic("config", "WifMagics.default_principal = 'lesson-app'")


def test_wif_status_shows_both_services(ip: InteractiveShell) -> None:
    _, [bundle] = run(ip, "%wif_status")
    services = bundle[STATUS_MIME]["services"]
    assert services["idp"]["running"] and services["mongod"]["running"]
    assert "wif-notebook services" in bundle["text/html"] and "<script" not in bundle["text/html"]


def test_wif_idp_lists_principals(ip: InteractiveShell) -> None:
    _, [bundle] = run(ip, "%wif_idp principals")
    assert "billing-api" in bundle["text/plain"] and "orders-worker" in bundle["text/html"]


def test_wif_token_stores_the_token_and_never_displays_it(ip: InteractiveShell) -> None:
    _, outputs = run(ip, "%wif_token billing-api --via client_credentials -o tok")
    issued = ip.user_ns["tok"]
    assert issued.method == "client_credentials"
    [bundle] = outputs
    assert bundle[TOKEN_MIME]["verdict"]["ok"] is True
    assert bundle[TOKEN_MIME]["token"]["redacted"] == "eyJhbGciOi…[redacted]"
    assert issued.token not in json.dumps(bundle, ensure_ascii=False)
    _no_raw_jwt(outputs)


@pytest.mark.parametrize("via", ["imds", "gcp", "k8s", "federated", "mint", "callback"])
def test_wif_token_every_method(ip: InteractiveShell, via: str) -> None:
    principal = {
        "imds": "inventory-vm",
        "gcp": "gce-worker",
        "k8s": "orders-worker",
        "federated": "orders-identity",
    }.get(via, "lesson-app")
    _, [bundle] = run(ip, f"%wif_token {principal} --via {via} -o t")
    assert bundle[TOKEN_MIME]["source"]["method"] == {"k8s": "k8s-file"}.get(via, via)
    _no_raw_jwt([bundle])


def test_wif_token_loads_the_driver_only_for_the_callback(kit: StateDir) -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'wif_notebook')\n"
        f'ip.run_line_magic("config", "WifMagics.state_dir = {str(kit.path)!r}")\n'
        "ip.run_line_magic('wif_token', 'lesson-app -o t')\n"
        "print(ip.user_ns['t'].method, 'pymongo' in sys.modules)\n"
        "ip.run_line_magic('wif_token', 'lesson-app --via callback -o t')\n"
        "print(ip.user_ns['t'].method, 'pymongo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert [line for line in out.splitlines() if line.endswith(("True", "False"))] == [
        "client_credentials False",
        "callback True",
    ]


def test_show_raw_is_explicit(ip: InteractiveShell) -> None:
    _, [bundle] = run(ip, "%wif_token lesson-app --show-raw -o raw")
    token = ip.user_ns["raw"].token
    assert token in bundle["text/plain"] and TOKEN_MIME not in bundle  # the contract's payload never has it


def test_wif_claims_of_a_variable_and_of_a_pasted_token(ip: InteractiveShell) -> None:
    run(ip, "%wif_token billing-api --fault expired -o old")
    _, [bundle] = run(ip, "%wif_claims old")
    verdict = bundle[TOKEN_MIME]["verdict"]
    assert verdict["ok"] is False and "time.exp" in bundle["text/plain"]
    _, [again] = run(ip, f"%wif_claims {ip.user_ns['old'].token}")
    assert again[TOKEN_MIME]["claims"] == bundle[TOKEN_MIME]["claims"]
    with pytest.raises(UsageError) as info:
        run(ip, "%wif_claims no_such_variable")
    assert str(info.value).startswith("no variable named 'no_such_variable'")


def test_wif_claims_and_wif_doctor_read_a_token_file(ip: InteractiveShell, tmp_path: Path) -> None:
    run(ip, "%wif_token billing-api --fault expired -o old")
    saved = tmp_path / "t.jwt"
    saved.write_text(ip.user_ns["old"].token + "\n")
    _, [bundle] = run(ip, f"%wif_claims {saved}")
    assert bundle[TOKEN_MIME]["verdict"]["ok"] is False and "time.exp" in bundle["text/plain"]
    _, [diagnosis] = run(ip, f"%wif_doctor {saved}")
    assert "time.exp" in diagnosis["text/plain"]
    with pytest.raises(UsageError) as info:
        run(ip, f"%wif_claims {tmp_path / 'missing.jwt'}")
    assert str(info.value) == (
        f"the token file {tmp_path / 'missing.jwt'} does not exist\n"
        "  next step: pass a token, the name of a variable holding one, or the path of a file holding a token"
    )
    empty = tmp_path / "empty.jwt"
    empty.write_text("")
    for magic in ("claims", "doctor"):
        with pytest.raises(UsageError) as info:
            run(ip, f"%wif_{magic} {empty}")
        assert str(info.value).startswith(f"the token file {empty} is empty\n"), magic


def test_wif_claims_of_an_attribute_says_to_pass_the_variable(ip: InteractiveShell) -> None:
    run(ip, "%wif_token billing-api -o tok")
    with pytest.raises(UsageError) as info:
        run(ip, "%wif_claims tok.token")
    assert str(info.value) == (
        "'tok.token' is neither a variable nor a token file\n"
        "  next step: tok is a variable: pass the variable itself (%wif_claims tok)"
    )


def test_wif_connect_returns_a_logged_in_client(ip: InteractiveShell) -> None:
    client, [bundle] = run(ip, "%wif_connect")
    assert (
        client.admin.command("connectionStatus")["authInfo"]["authenticatedUsers"][0]["user"]
        == "kit/lesson-app"
    )
    assert (
        "kit/lesson-app@$external" in bundle["text/plain"] and "connect + authenticate" in bundle["text/html"]
    )
    result, _ = run(ip, "%wif_connect --env azure -o azure_client")
    assert result is None and ip.user_ns["azure_client"].address is not None


def test_failed_connect_is_a_usage_error_and_the_doctor_explains_it(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError) as info:
        run(ip, "%wif_connect --callback --fault no-kid")
    assert str(info.value) == (
        "authentication failed: the server rejected the token\n"
        "  next step: run %wif_doctor to see which rule (the server logged the exact reason)"
    )
    _, [bundle] = run(ip, "%wif_doctor")
    assert "FAILED [header.kid]" in bundle["text/plain"] and "header.kid" in bundle["text/html"]


def test_unreachable_server_is_a_usage_error(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "WifMagics.connect_timeout_ms = 300")
    with pytest.raises(UsageError) as info:
        run(ip, "%wif_connect mongodb://127.0.0.1:9/?directConnection=true --env test")
    assert str(info.value).startswith("cannot reach the server at mongodb://127.0.0.1:9/")


def test_argument_errors_are_usage_errors(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError) as info:
        run(ip, "%wif_connect --env bogus")
    assert str(info.value) == "unknown environment 'bogus'\n  next step: use one of test, azure, gcp, k8s"
    with pytest.raises(UsageError) as info:
        run(ip, "%wif_token lesson-app --via bogus")
    assert str(info.value).startswith("unknown --via 'bogus'\n  next step: use one of azure, callback,")
    with pytest.raises(UsageError, match="exactly one of --group, --user or --principal"):
        run(ip, "%wif_authorize --role read@test")
    with pytest.raises(UsageError, match="no principal named 'nobody'"):
        run(ip, "%wif_token nobody")


def test_wif_mongod_changes_the_audience_and_the_doctor_sees_it(ip: InteractiveShell, kit: StateDir) -> None:
    _, [shown] = run(ip, "%wif_mongod")
    assert "api://mongodb-kit" in shown["text/plain"]
    with pytest.raises(UsageError, match="BSON field 'IDPConfiguration.JWKSPollSecs' is the wrong type"):
        run(ip, "%wif_mongod set kit JWKSPollSecs=often")
    try:
        _, [changed] = run(ip, "%wif_mongod set kit audience=api://renamed")
        assert "mongod restarted" in changed["text/plain"]
        with pytest.raises(UsageError, match="the server rejected the token"):
            run(ip, "%wif_connect")
        _, [doctor] = run(ip, "%wif_doctor")
        assert "FAILED [audience]" in doctor["text/plain"]
        assert "%wif_mongod set kit audience=api://mongodb-kit" in doctor["text/plain"]
    finally:
        run(ip, "%wif_mongod reset")
    client, _ = run(ip, "%wif_connect")
    assert client is not None
    _, [logs] = run(ip, "%wif_mongod logs -n 5")
    assert "last 5 lines" in logs["text/html"]


def test_wif_authorize_then_the_doctor_finds_nothing_wrong(
    ip: InteractiveShell, lesson_readers_role: str
) -> None:
    _, [done] = run(ip, "%wif_authorize --group lesson-readers --role readWrite@test")
    assert f"{lesson_readers_role}@admin" in done["text/plain"]
    run(ip, "%wif_token lesson-app -o good")
    _, [doctor] = run(ip, "%wif_doctor good")
    assert doctor["text/plain"].startswith("wif doctor: OK")


def test_wif_authorize_with_an_unknown_prefix_is_refused_naming_the_known_ones(ip: InteractiveShell) -> None:
    # No provider has authNamePrefix "kti": a role "kti/lesson-readers" is one no token would ever name.
    with pytest.raises(UsageError) as info:
        run(ip, "%wif_authorize --group lesson-readers --prefix kti --role read@test")
    text = str(info.value)
    assert "no oidcIdentityProviders entry with authNamePrefix 'kti'" in text
    assert "use one of: kit, " in text and "gcp" in text


def test_wif_flow_shows_the_exchange_of_the_last_connect(ip: InteractiveShell) -> None:
    run(ip, "%wif_connect")
    _, [bundle] = run(ip, "%wif_flow")
    labels = [m["label"] for m in bundle[FLOW_MIME]["messages"]]
    assert any("MONGODB-OIDC" in label for label in labels)


def test_wif_up_and_wif_reset_in_their_own_state_dir(ip: InteractiveShell, tmp_path: Path) -> None:
    ip.run_line_magic("config", f"WifMagics.state_dir = {str(tmp_path / 'own')!r}")
    ip.run_line_magic("config", "WifMagics.idp_port = 0")
    ip.run_line_magic("config", "WifMagics.mongod_port = 0")
    import os

    before = os.environ.get("SSL_CERT_FILE")
    # A first start keeps a vendor-host proxy port, which another program then holds.
    own = StateDir(tmp_path / "own")
    start_idp(own, 0)
    stop_idp(own)
    kept = ports.kept_ports(own)["vendor-proxy"]
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", kept))
            squatter.listen()
            _, [up] = run(ip, "%wif_up")
        assert up[STATUS_MIME]["services"]["mongod"]["running"]
        # As `wif up` says: the proxy moved, so an HTTPS_PROXY exported earlier is stale.
        moved = ports.kept_ports(own)["vendor-proxy"]
        note = f"the vendor-host proxy's port {kept} was taken, so it listens at http://127.0.0.1:{moved}"
        assert note in up["text/plain"] and html.escape(note) in up["text/html"]
        # The kernel now trusts this kit's CA, as a shell does after eval "$(wif env)".
        bundle = str(tmp_path / "own" / "tls" / "ca-bundle.pem")
        assert os.environ["SSL_CERT_FILE"] == os.environ["REQUESTS_CA_BUNDLE"] == bundle
        run(ip, "%wif_connect -o mine")
        assert len(connect.connections()) == 1
        lessons.record_check("02-first-login", "connect", True, state=StateDir(tmp_path / "own"))
        _, [reset] = run(ip, "%wif_reset")
        assert "clients closed  1" in reset["text/plain"] and connect.connections() == []
        # Reset the kit, not the learning record.
        assert "kept            your lesson progress" in reset["text/plain"]
        assert lessons.progress(StateDir(tmp_path / "own"))["02-first-login"]["connect"]["passed"]
        assert not (tmp_path / "own" / "keys").exists()
        assert os.environ.get("SSL_CERT_FILE") == before, "the deleted bundle is no longer trusted"
        _, [status] = run(ip, "%wif_status")
        assert not status[STATUS_MIME]["services"]["mongod"]["running"]
        with pytest.raises(UsageError) as info:
            run(ip, "%wif_connect")
        assert str(info.value) == "the test mongod is not running\n  next step: start it with %wif_up"
    finally:
        ip.run_line_magic("config", "WifMagics.idp_port = -1")
        ip.run_line_magic("config", "WifMagics.mongod_port = -1")
        StateDir(tmp_path / "own")  # keep the folder for the fixture's cleanup


def test_wif_env_masks_the_secret_and_apply_sets_the_variables_in_the_kernel(
    ip: InteractiveShell, kit: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for name in ("OIDC_CLIENT_SECRET", "OIDC_ISSUER", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test; --apply sets them
    with capture_output() as shown:
        ip.run_line_magic("wif_env", "billing-api --apply")
    assert "export OIDC_CLIENT_SECRET='****'" in shown.stdout
    assert "export OIDC_ISSUER=https://localhost:" in shown.stdout
    assert os.environ["OIDC_CLIENT_SECRET"] not in ("", "****")
    bundle = str(kit.path / "tls" / "ca-bundle.pem")
    assert os.environ["REQUESTS_CA_BUNDLE"] == os.environ["SSL_CERT_FILE"] == bundle
    with capture_output() as revealed:
        ip.run_line_magic("wif_env", "billing-api --show-secret")
    assert f"export OIDC_CLIENT_SECRET={os.environ['OIDC_CLIENT_SECRET']}" in revealed.stdout


def test_wif_env_apply_for_another_principal_takes_back_the_previous_ones_variables(
    ip: InteractiveShell, kit: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("IDENTITY_HEADER", "the notebook's own")  # set before any --apply: restored
    proxies = ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")
    for name in ("AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "OIDC_CLIENT_SECRET", "OIDC_ISSUER", *proxies):
        monkeypatch.delenv(name, raising=False)
    with capture_output():
        ip.run_line_magic("wif_env", "checkout-webapp --apply")
    assert os.environ["IDENTITY_ENDPOINT"].startswith("http://localhost:")
    assert os.environ["IDENTITY_HEADER"] != "the notebook's own"
    assert os.environ["HTTPS_PROXY"].startswith("http://127.0.0.1:")  # an Azure host's vendor-host proxy
    with capture_output() as shown:
        ip.run_line_magic("wif_env", "billing-api --apply")
    taken_back = (
        "AZURE_CLIENT_ID, HTTPS_PROXY, IDENTITY_ENDPOINT, IDENTITY_HEADER, NO_PROXY, https_proxy, no_proxy"
    )
    assert f"# taken back (the previous --apply's, not this host's): {taken_back}" in shown.stdout
    assert "IDENTITY_ENDPOINT" not in os.environ, "an App Service variable lingers after applying a kit app"
    assert not any(name in os.environ for name in proxies), "the kit app's host has no vendor-host proxy"
    assert os.environ["IDENTITY_HEADER"] == "the notebook's own"
    assert os.environ["OIDC_ISSUER"].startswith("https://localhost:")


def test_unload_drops_the_magics_and_closes_clients(ip: InteractiveShell) -> None:
    run(ip, "%wif_connect --env azure -o c")
    ip.run_line_magic("unload_ext", "wif_notebook")
    try:
        assert not any(name.startswith("wif_") for name in ip.magics_manager.magics["line"])
        assert connect.connections() == []
        from wif_notebook import cloudsim

        assert not cloudsim.active()
    finally:
        ip.run_line_magic("load_ext", "wif_notebook")
    assert "wif_connect" in ip.magics_manager.magics["line"]
