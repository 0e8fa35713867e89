"""Plain words for the Entra issuer mistakes: v1 vs v2 issuers and the trailing slash."""

from __future__ import annotations

import subprocess
import sys

from wif_notebook import doctor, providers, tokens
from wif_notebook.clouds import issuer_mixup_words
from wif_notebook.clouds.azure import explain_issuer_mixup
from wif_notebook.oidc import ProviderConfig

from .conftest import AzureKit

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
V1 = f"https://sts.windows.net/{TENANT}/"
V2 = f"https://login.microsoftonline.com/{TENANT}/v2.0"
APP = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"


def _words(iss: str, aud: str, issuer: str, audience: str) -> str:
    """What `wif claims` and the doctor append for a token against one configured entry."""
    entry = ProviderConfig(issuer=issuer, audience=audience, auth_name_prefix="p")
    return issuer_mixup_words({"iss": iss, "aud": aud}, [entry])


def test_a_v1_issuer_configured_without_its_trailing_slash_is_named_as_such() -> None:
    text = _words(V1, f"api://{APP}", V1.rstrip("/"), f"api://{APP}")
    assert "differ only by the trailing slash" in text
    assert "the token's issuer ends with '/' and the configured one does not" in text
    assert f"set issuer to {V1!r}" in text
    assert "This is an Entra v1.0 token: v1.0 issuers end with a slash" in text


def test_an_extra_slash_after_v2_0_is_named_too() -> None:
    text = _words(V2, APP, V2 + "/", APP)
    assert "the configured issuer ends with '/' and the token's does not" in text
    assert "This is an Entra v2.0 token" in text


def test_a_trailing_slash_on_any_other_issuer_is_named_without_entra_words() -> None:
    google = "https://accounts.google.com"
    text = _words(google, "mongodb", google + "/", "mongodb")
    assert "differ only by the trailing slash" in text and f"set issuer to {google!r}" in text
    assert "Entra" not in text and "v1.0" not in text


def test_a_v1_token_against_a_v2_configuration_says_which_setting_decides() -> None:
    text = explain_issuer_mixup(V1, f"api://{APP}", [(V2, APP)])
    assert text is not None
    assert "an Entra v1.0 token" in text and "v2.0 tokens issuer" in text
    assert "accessTokenAcceptedVersion to 2" in text
    assert f"configure issuer {V1!r} with audience 'api://{APP}'" in text


def test_a_v2_token_against_a_v1_configuration() -> None:
    text = explain_issuer_mixup(V2, APP, [(V1, f"api://{APP}")])
    assert text is not None and "an Entra v2.0 token" in text and "accessTokenAcceptedVersion to 1" in text


def test_the_kits_own_entra_urls_follow_the_same_rules() -> None:
    kit_v1, kit_v2 = f"https://localhost:8123/{TENANT}/", f"https://localhost:8123/{TENANT}/v2.0"
    assert "v1.0 token" in (explain_issuer_mixup(kit_v1, "api://x", [(kit_v2, "x")]) or "")


def test_other_mismatches_are_not_explained_as_entra_mistakes() -> None:
    other_tenant = "00000000-0000-0000-0000-000000000001"
    assert explain_issuer_mixup(V1, APP, [(f"https://sts.windows.net/{other_tenant}/", APP)]) is None
    assert explain_issuer_mixup("https://accounts.google.com", "x", [(V2, APP)]) is None
    assert explain_issuer_mixup(V2, APP, [(V2, APP)]) is None


def test_wif_doctor_names_a_v1_issuer_written_without_its_slash(azure_kit: AzureKit) -> None:
    # A v1 token for the v1 resource application, against a mongod.conf whose azure-v1 entry lost
    # the issuer's trailing slash (a common copy-paste from the portal's v2.0 URLs).
    v1 = azure_kit.ctx.extra["issuers"]["azure-v1"]
    token = tokens.mint("reports-sp", audience=v1["audience"], state=azure_kit.state)
    providers.set_provider(azure_kit.state, "azure-v1", {"issuer": v1["issuer"].rstrip("/")})
    try:
        found = doctor.diagnose(token, state=azure_kit.state)
        claims = subprocess.run(
            [
                sys.executable,
                "-m",
                "wif_notebook.cli",
                "claims",
                "-",
                "--state-dir",
                str(azure_kit.state.path),
            ],
            input=token.token,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        providers.restore_default_config(azure_kit.state)
    assert found.rule == "provider"
    assert "differ only by the trailing slash" in found.explanation
    assert f"set issuer to {v1['issuer']!r}" in found.explanation
    # wif claims says the same in its verdict.
    assert claims.returncode == 1, claims.stderr
    assert "differ only by the trailing slash" in claims.stdout


def test_wif_doctor_names_a_v2_token_sent_to_a_v1_only_server(azure_kit: AzureKit) -> None:
    token = tokens.mint("reports-sp", state=azure_kit.state)  # the v2 resource application
    providers.remove_provider(azure_kit.state, "azure")
    try:
        found = doctor.diagnose(token, state=azure_kit.state)
    finally:
        providers.restore_default_config(azure_kit.state)
    assert found.rule == "provider"
    assert "an Entra v2.0 token" in found.explanation and "accessTokenAcceptedVersion" in found.explanation
