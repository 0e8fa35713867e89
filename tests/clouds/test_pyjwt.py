"""PyJWT's PyJWKClient verifies a token of every kit issuer from the issuer's own discovery."""

from __future__ import annotations

import jwt
import pytest

from wif_notebook import tokens
from wif_notebook.idp.issuers import ISSUERS
from wif_notebook.idp.principals import load_catalog
from wif_notebook.idp.service import idp_record
from wif_notebook.state import StateDir

from .conftest import get_json, jwks_client


@pytest.mark.parametrize("issuer_id", list(ISSUERS))
def test_pyjwkclient_verifies_a_token_of_each_issuer(kit: StateDir, issuer_id: str) -> None:
    record = idp_record(kit)
    assert record is not None
    info = record.extra["issuers"][issuer_id]
    principal = next(p for p in load_catalog(kit) if p.issuer_id == issuer_id)
    token = tokens.mint(principal.name, audience=info["audience"], state=kit).token
    jwks_uri = get_json(kit, f"{info['issuer']}/.well-known/openid-configuration")["jwks_uri"]
    key = jwks_client(kit, jwks_uri).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=info["audience"], issuer=info["issuer"]
    )
    assert claims["sub"] == principal.subject
