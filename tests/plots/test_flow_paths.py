"""The flow names each IdP request by the endpoint it reached, as the registry declares the paths."""

from __future__ import annotations

from wif_notebook.flow import _IdpPaths
from wif_notebook.idp.issuers import AZURE_TENANT_ID


def test_entras_tenant_paths_are_named_as_entras_and_the_kit_aliases_are_not() -> None:
    paths = _IdpPaths.from_registry()
    tenant = f"/{AZURE_TENANT_ID}"
    assert paths.endpoint(f"{tenant}/oauth2/v2.0/token", "POST", "client_credentials") == ("token", "azure")
    assert paths.endpoint(f"{tenant}/discovery/v2.0/keys", "GET", None) == ("jwks", "azure")
    # The kit's own issuers have the /token and /jwks aliases; Entra's tenant does not (a 404 there).
    assert paths.endpoint("/kit/jwks", "GET", None) == ("jwks", "kit")
    assert paths.endpoint(f"{tenant}/v2.0/jwks", "GET", None) == ("other", None)
    assert paths.endpoint(f"{tenant}/v2.0/token", "POST", None) == ("other", None)
