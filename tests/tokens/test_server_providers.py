"""Which oidcIdentityProviders the server would use: mongod.conf read as the launcher reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wif_notebook import display, token_cli
from wif_notebook.errors import ConfigError
from wif_notebook.mongod import default_config, load_config_file, server_providers, write_config
from wif_notebook.state import ServiceRecord, StateDir


def test_without_mongod_conf_the_kit_default_for_the_running_idp(
    idp_state: StateDir, idp_record: ServiceRecord
) -> None:
    assert not idp_state.mongod_conf.exists()
    found = server_providers(idp_state)
    assert found is not None and found.enable_test_commands
    assert "default configuration" in found.source
    expected = default_config(idp_state, idp_record).oidc_providers
    assert [p.to_document() for p in found.providers] == [p.to_document() for p in expected]
    assert {p.auth_name_prefix: p.use_authorization_claim for p in found.providers} == {
        "kit": True,
        "azure": True,
        "azure-v1": True,
        "gcp": False,
        "k8s": False,
        "github": False,
    }


def test_the_written_mongod_conf_is_what_counts(
    idp_state: StateDir, idp_record: ServiceRecord, mongod_conf: Path
) -> None:
    write_config(idp_state, default_config(idp_state, idp_record))
    found = server_providers(idp_state)
    assert found is not None and found.source == str(mongod_conf)
    on_disk = load_config_file(mongod_conf).oidc_providers
    assert [p.to_document() for p in found.providers] == [p.to_document() for p in on_disk]


def test_a_conf_the_server_would_refuse_is_refused_with_its_message(
    idp_state: StateDir, mongod_conf: Path
) -> None:
    # Providers without MONGODB-OIDC among the mechanisms: a real mongod does not start.
    entry = {
        "issuer": "http://localhost:1/kit",
        "audience": "a",
        "authNamePrefix": "kit",
        "authorizationClaim": "groups",
        "supportsHumanFlows": False,
    }
    conf = f"setParameter:\n  enableTestCommands: 1\n  oidcIdentityProviders: '{json.dumps([entry])}'\n"
    idp_state.write_private(mongod_conf, conf)
    with pytest.raises(ConfigError, match="Authentication mechanism 'MONGODB-OIDC' is not enabled"):
        server_providers(idp_state)
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    report = token_cli.analyse(token, idp_state)  # wif claims says why nothing was checked
    assert "MONGODB-OIDC' is not enabled" in report["server"]["error"]
    assert display.verdict(token, idp_state) is None


def test_neither_a_conf_nor_an_idp_means_no_providers(tmp_path: Path) -> None:
    assert server_providers(StateDir(tmp_path / "empty")) is None
