"""PyJWT's PyJWKClient verifies a token of every kit issuer from the issuer's own discovery."""

from __future__ import annotations

import json
import urllib.request

import jwt
import pytest

from wif_notebook import tokens
from wif_notebook.idp.issuers import ISSUERS
from wif_notebook.idp.principals import load_catalog
from wif_notebook.idp.service import idp_record
from wif_notebook.state import StateDir


@pytest.mark.parametrize("issuer_id", list(ISSUERS))
def test_pyjwkclient_verifies_a_token_of_each_issuer(kit: StateDir, issuer_id: str) -> None:
    record = idp_record(kit)
    assert record is not None
    info = record.extra["issuers"][issuer_id]
    principal = next(p for p in load_catalog(kit) if p.issuer_id == issuer_id)
    token = tokens.mint(principal.name, audience=info["audience"], state=kit).token
    with urllib.request.urlopen(f"{info['issuer']}/.well-known/openid-configuration", timeout=5) as reply:
        jwks_uri = json.load(reply)["jwks_uri"]
    key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=info["audience"], issuer=info["issuer"]
    )
    assert claims["sub"] == principal.subject
