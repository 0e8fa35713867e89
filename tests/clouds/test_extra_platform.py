"""Adding a platform is one module: a throwaway one, registered through ``WIF_EXTRA_CLOUDS``,
appears in the principal kinds, ``wif env --principal``, ``tokens.obtain``'s methods, ``%wif_token
--via`` and the connect environments, and the IdP (its own process) serves its issuer, without
any other file of the kit knowing it."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wif_notebook import clouds, tokens
from wif_notebook.cli import main
from wif_notebook.connect import connect
from wif_notebook.errors import ConfigError
from wif_notebook.httpclient import Client
from wif_notebook.idp.app import IdentityProvider
from wif_notebook.idp.messages import Request
from wif_notebook.idp.service import require_idp, start_idp, stop_idp
from wif_notebook.magics import _token_methods
from wif_notebook.state import StateDir

# A made-up workload platform: an OAuth issuer at B/acme, workloads configured with two variables,
# tokens shaped its way, a token method of its own (client credentials at the platform's issuer, as
# its agent does).
ACME_MODULE = """
from wif_notebook.clouds import Cloud, ConnectPlan, PrincipalKind
from wif_notebook.idp.issuers import path_issuer


def _env(ctx, principal):
    return {"ACME_ISSUER": ctx.issuer("acme"), "ACME_WORKLOAD": principal.client_id}


def _shape(draft):
    draft.claims["groups"] = list(draft.principal.groups)
    draft.claims["acme_region"] = "eu-1"


def _agent_token(state, principal, audience):
    from wif_notebook import tokens

    return tokens.client_credentials(principal, audience=audience, state=state)


def _seed():
    return [
        (
            "An Acme workload.",
            {
                "name": "acme-worker",
                "kind": "acme-workload",
                "issuer": "acme",
                "infrastructure": "Acme Cloud",
                "client_id": "acme-worker",
                "client_secret": "not-a-real-secret-0123456789",
                "subject": "acme-worker",
                "groups": ["acme-readers"],
            },
        )
    ]


CLOUD = Cloud(
    id="acme",
    title="Acme Cloud",
    issuers=(path_issuer("acme", "Acme Cloud (workload tokens)", "/keys", "api://mongodb-kit-acme"),),
    principal_kinds={"acme-workload": PrincipalKind("acme", client_secret=True)},
    connect=ConnectPlan("acme", "the Acme agent"),
    shape_claims=_shape,
    workload_env=_env,
    token_methods={"acme-agent": _agent_token},
    default_token_methods={"acme-workload": "acme-agent"},
    seed_principals_later=_seed,
)
"""


# A platform whose issuer lives under a route that is not its id (as Entra's lives under its
# tenant), two segments deep, and whose hosts have a metadata endpoint of their own.
EDGE_MODULE = """
from dataclasses import replace

from wif_notebook.clouds import Cloud, MetadataHost
from wif_notebook.idp.issuers import path_issuer
from wif_notebook.idp.messages import json_response

IDENTITY_PATH = "/edge-metadata/v1/identity"


def _handler(idp, req):
    if req.path == IDENTITY_PATH:
        return json_response(200, {"host": "edge-box-1"})
    return None


CLOUD = Cloud(
    id="edge",
    title="Edge Cloud",
    issuers=(
        replace(
            path_issuer("edge", "Edge Cloud tenant", "/oidc/keys", "api://edge"),
            route_base="/tenants/edge-7",
            issuer_suffix="/oidc",
            token_path="/oidc/token",
        ),
    ),
    metadata=MetadataHost(
        frozenset({"metadata.edge.internal"}),
        IDENTITY_PATH,
        "edge-metadata",
        "GET Edge identity",
        "edge-host",
        "Edge host identity",
        "the Edge metadata endpoint",
    ),
    idp_handler=_handler,
)
"""


@contextlib.contextmanager
def _registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str) -> Iterator[StateDir]:
    """The platform module ``name`` registered and the IdP running with it (the IdP process
    inherits the variable); its state directory."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(modules), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv(clouds.EXTRA_CLOUDS_VARIABLE, name)
    state = StateDir(tmp_path / "state")
    monkeypatch.setenv("WIF_STATE_DIR", str(state.path))
    start_idp(state, 0)
    try:
        yield state
    finally:
        stop_idp(state)


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StateDir]:
    with _registered(tmp_path, monkeypatch, "acme_cloud", ACME_MODULE) as state:
        yield state


@pytest.fixture
def edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StateDir]:
    with _registered(tmp_path, monkeypatch, "edge_cloud", EDGE_MODULE) as state:
        yield state


def _wif(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def test_an_extra_platform_module_is_all_the_kit_needs(acme: StateDir) -> None:
    assert clouds.principal_kinds()["acme-workload"].issuer == "acme"
    assert "acme-worker" in _wif("idp", "principals")
    header = (acme.path / "principals.yaml").read_text().split("principals:\n", 1)[0]
    assert "| acme-workload" in header and "| github | acme   (which issuer" in header

    exports = _wif("env", "--principal", "acme-worker")
    assert "export ACME_WORKLOAD=acme-worker\n" in exports
    issuer = next(line for line in exports.splitlines() if line.startswith("export ACME_ISSUER="))
    assert issuer.endswith("/acme")

    assert "acme-agent" in tokens.methods()
    assert _token_methods()["acme"] == "acme-agent"  # %wif_token --via acme
    issued = tokens.obtain("acme-worker", state=acme)  # the platform's default method
    claims = tokens.decode(issued.token).claims
    assert claims["iss"] == issuer.removeprefix("export ACME_ISSUER=")
    assert (claims["sub"], claims["groups"], claims["acme_region"]) == (
        "acme-worker",
        ["acme-readers"],
        "eu-1",
    )
    assert issued.principal == "acme-worker"

    assert "acme" in clouds.connect_environments()
    with pytest.raises(ConfigError) as info:
        connect(env="aws")
    assert info.value.hint == "use one of test, azure, gcp, k8s, acme"


def test_a_platform_registered_after_load_ext_is_known_to_the_magics(acme: StateDir) -> None:
    """The magics read the registry when they run, not when the extension loaded (this module
    imported them before the fixture named the platform)."""
    from _support.shell import magic_shell
    from IPython.core.error import UsageError

    ip = magic_shell(acme)
    ip.run_line_magic("wif_token", "acme-worker --via acme -o acme_token")
    issued = ip.user_ns["acme_token"]  # the platform's agent: client credentials at its issuer
    assert (issued.principal, tokens.decode(issued.token).claims["acme_region"]) == ("acme-worker", "eu-1")
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("wif_connect", "--env aws")
    assert str(info.value) == "unknown environment 'aws'\n  next step: use one of test, azure, gcp, k8s, acme"


def test_without_the_module_the_kit_knows_only_its_own_platforms() -> None:
    assert "acme" not in clouds.connect_environments()
    assert "acme-workload" not in clouds.principal_kinds()


def test_an_extra_platforms_issuer_is_served_at_its_route_even_when_that_is_not_its_id(
    edge: StateDir,
) -> None:
    record = require_idp(edge)
    issuer = record.extra["issuers"]["edge"]["issuer"]
    assert issuer == f"{record.extra['https_base_url']}/tenants/edge-7/oidc"
    client = Client(state=edge)
    discovery = client.get(f"{issuer}/.well-known/openid-configuration").json()
    assert (discovery["issuer"], discovery["jwks_uri"]) == (issuer, f"{issuer}/keys")
    assert client.get(discovery["jwks_uri"]).json()["keys"]
    assert client.get(f"{record.extra['https_base_url']}/edge/.well-known/openid-configuration").status == 404


def test_the_idp_index_lists_the_metadata_endpoints_the_registry_declares(edge: StateDir) -> None:
    base = require_idp(edge).extra["base_url"]
    client = Client(state=edge)
    metadata = client.get(f"{base}/").json()["metadata"]
    assert metadata == {
        cloud.id: {name: f"{base}{path}" for name, path in cloud.metadata.paths().items()}
        for cloud in clouds.clouds()
        if cloud.metadata is not None
    }
    assert metadata["edge"] == {"edge-metadata": f"{base}/edge-metadata/v1/identity"}
    assert metadata["azure"] == {
        "imds": f"{base}/metadata/identity/oauth2/token",
        "app-service": f"{base}/MSI/token",
    }
    # The platform's own handler answers its endpoint.
    assert client.get(metadata["edge"]["edge-metadata"]).json() == {"host": "edge-box-1"}


def test_the_idp_index_lists_the_endpoints_it_started_with_after_the_variable_changes(
    edge: StateDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An IdP serves the platforms registered when it started; its index must list those, not what
    # the variable says later in the same process.
    app = IdentityProvider(StateDir(tmp_path / "in-process"), "http://localhost:1")
    monkeypatch.delenv(clouds.EXTRA_CLOUDS_VARIABLE)

    def get(path: str) -> Any:
        return json.loads(app.handle(Request("GET", path, "", {}, b"", "127.0.0.1:2", True)).body)

    assert get("/")["metadata"]["edge"] == {"edge-metadata": "http://localhost:1/edge-metadata/v1/identity"}
    assert get("/edge-metadata/v1/identity") == {"host": "edge-box-1"}
