"""ProviderForm validates on every change with the messages a real mongod prints (no services needed)."""

from __future__ import annotations

import html

import yaml

from wif_notebook.oidc import ProviderConfig, parse_oidc_identity_providers
from wif_notebook.widgets import ProviderForm


def _message(form: ProviderForm) -> str:
    return html.unescape(form.message.value)


def test_an_empty_form_asks_for_the_issuer_as_mongod_does() -> None:
    form = ProviderForm()
    assert form.provider is None
    assert "BSON field 'IDPConfiguration.issuer' is missing but a required field" in _message(form)
    assert "next step:" in _message(form)
    assert form.conf_view.value == ""


def test_each_change_revalidates_until_mongod_would_accept_the_entry() -> None:
    form = ProviderForm()
    form.fields["issuer"].value = "https://login.example.com/tenant/v2.0"
    assert "'IDPConfiguration.audience' is missing" in _message(form)
    form.fields["audience"].value = "api://orders"
    form.fields["authNamePrefix"].value = "corp"
    assert (
        "Missing required field 'authorizationClaim' for issuer 'https://login.example.com/tenant/v2.0'"
        in _message(form)
    )
    form.fields["authorizationClaim"].value = "groups"
    assert "Missing required field 'clientId'" in _message(form)
    # A front-end edit (what a browser sends) revalidates the same way.
    form.supports_human_flows.set_state({"value": False})
    assert "valid" in _message(form) and form.error is None
    assert form.provider == ProviderConfig(
        issuer="https://login.example.com/tenant/v2.0",
        audience="api://orders",
        auth_name_prefix="corp",
        authorization_claim="groups",
        supports_human_flows=False,
    )
    # The snippet is real mongod.conf YAML whose parameter parses back to the same entry.
    conf = yaml.safe_load(form.mongod_conf_snippet())
    assert parse_oidc_identity_providers(
        conf["setParameter"]["oidcIdentityProviders"], enable_test_commands=True
    ) == [form.provider]
    assert '"authNamePrefix": "corp"' in html.unescape(form.json_view.value)


def test_a_prefix_with_a_slash_is_refused_with_mongods_message() -> None:
    form = ProviderForm(
        {
            "issuer": "https://idp.example",
            "audience": "a",
            "authNamePrefix": "kit",
            "useAuthorizationClaim": False,
            "supportsHumanFlows": False,
        }
    )
    assert form.provider is not None
    form.fields["authNamePrefix"].value = "kit/prod"
    assert (
        "Field 'authNamePrefix' for issuer 'https://idp.example' must contain only alphanumerics, hyphens, "
        "and/or underscores. Encountered '/'" in _message(form)
    )
    form.fields["authNamePrefix"].value = "kit"
    form.jwks_poll_secs.value = 5
    assert "Invalid refresh period 5s, must be greater than 10s, or exactly 0" in _message(form)


def test_plain_http_issuers_need_enable_test_commands() -> None:
    form = ProviderForm(
        ProviderConfig(
            issuer="http://localhost:8123/kit",
            audience="api://mongodb-kit",
            auth_name_prefix="kit",
            authorization_claim="groups",
            supports_human_flows=False,
        )
    )
    assert form.provider is not None
    assert "enableTestCommands: 1" in form.mongod_conf_snippet()
    form.enable_test_commands.value = False
    assert "Field 'issuer' for issuer 'http://localhost:8123/kit' must be an https:// URL" in _message(form)
