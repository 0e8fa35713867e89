"""Signing keys: rotation with overlap, retirement, persistence, ES256 with padded coordinates."""

from __future__ import annotations

import base64
from dataclasses import replace

import jwt
import pytest

from wif_notebook.cli import main
from wif_notebook.errors import ConfigError
from wif_notebook.idp.keys import IssuerKeys, generate_private_key, public_jwk
from wif_notebook.idp.service import retire_key, rotate_keys, stop_idp
from wif_notebook.idp.tokenfiles import TOKEN_FILES, token_file_path
from wif_notebook.mongod import default_config
from wif_notebook.oidc import keyset_for, validate_token
from wif_notebook.state import StateDir

from .conftest import Idp, start


def _coord_len(value: str) -> int:
    return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(idp: Idp) -> None:
    old_kid = idp.mint(principal="billing-api")["kid"]
    reply = idp.post_json("/_wif/rotate-keys", {"issuer": "kit"})
    assert reply.status == 200
    new_kid = reply.json()["rotated"]["kit"]["kid"]
    assert new_kid != old_kid
    published = [k["kid"] for k in idp.jwks("kit")["keys"]]
    assert published[0] == new_kid and old_kid in published
    token = idp.mint(principal="billing-api")["token"]
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    idp.verify(token, "kit")
    # Retiring removes the old key (the oldest that does not sign); the signing key stays.
    retired = idp.post_json("/_wif/retire-key", {"issuer": "kit"}).json()["retired"]
    assert retired == {"kit": old_kid}
    published = [k["kid"] for k in idp.jwks("kit")["keys"]]
    assert old_kid not in published and new_kid in published


def test_the_signing_key_cannot_be_retired(idp: Idp) -> None:
    active = idp.mint(principal="gce-worker")["kid"]
    reply = idp.post_json("/_wif/retire-key", {"issuer": "gcp", "kid": active})
    assert reply.status == 400
    assert "rotate-keys" in reply.json()["error_description"]


def test_es256_rotation_publishes_full_length_coordinates_and_verifies(idp: Idp) -> None:
    reply = idp.post_json("/_wif/rotate-keys", {"issuer": "k8s", "alg": "ES256"})
    kid = reply.json()["rotated"]["k8s"]["kid"]
    jwk = next(k for k in idp.jwks("k8s")["keys"] if k["kid"] == kid)
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")
    assert _coord_len(jwk["x"]) == _coord_len(jwk["y"]) == 32
    token = idp.mint(principal="orders-worker")["token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    idp.verify(token, "k8s")
    idp.post_json("/_wif/rotate-keys", {"issuer": "k8s"})  # back to RS256 for other tests


def test_ec_coordinates_are_always_32_bytes_over_many_keys() -> None:
    # Naive int.to_bytes drops leading zeros for ~1 % of P-256 keys; mongod rejects those.
    for _ in range(300):
        jwk = public_jwk(generate_private_key("ES256"))
        assert _coord_len(jwk["x"]) == 32 and _coord_len(jwk["y"]) == 32


def test_keys_are_stable_across_restarts_and_rotation_works_while_stopped(state: StateDir) -> None:
    first = start(state)
    kids = [k["kid"] for k in first.jwks("kit")["keys"]]
    stop_idp(state)
    rotated = rotate_keys(state, "kit")["rotated"]["kit"]  # on disk, IdP stopped
    second = start(state)
    try:
        assert second.port != 0
        published = [k["kid"] for k in second.jwks("kit")["keys"]]
        assert published == [rotated["kid"], *kids]
        assert retire_key(state, "kit")["retired"] == {"kit": kids[0]}  # through the running IdP
    finally:
        stop_idp(state)
    key_files = list((state.keys_dir / "kit").glob("*.pem"))
    assert key_files and all(p.stat().st_mode & 0o077 == 0 for p in key_files)


def test_a_corrupt_keyring_is_a_state_error_with_a_fix(state: StateDir) -> None:
    folder = state.keys_dir / "kit"
    IssuerKeys(folder, "kit")
    (folder / "keyring.json").write_text("{not json")
    with pytest.raises(Exception) as info:
        IssuerKeys(folder, "kit")
    assert "remove" in str(info.value)


def test_unsupported_algorithm_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ES256"):
        generate_private_key("HS256")


def _token_file_kids(state: StateDir) -> dict[str, str]:
    return {
        kind: jwt.get_unverified_header(token_file_path(state, kind).read_text())["kid"]
        for kind in TOKEN_FILES
        if token_file_path(state, kind).exists()
    }


def test_rotation_and_retirement_rewrite_the_token_files_at_once(state: StateDir) -> None:
    # Refresh once an hour: only the rotation and the retirement themselves can rewrite the files.
    running = start(state, token_refresh=3600)
    try:
        old = {i: running.jwks(i)["keys"][0]["kid"] for i in ("kit", "k8s")}
        assert set(_token_file_kids(state).values()) <= set(old.values())

        answer = rotate_keys(state)
        new = {i: answer["rotated"][i]["kid"] for i in ("kit", "k8s")}
        kids = _token_file_kids(state)
        assert set(answer["token_files"]) == set(kids) == set(TOKEN_FILES)
        assert kids["oidc"] == new["kit"]
        assert {kids[k] for k in ("serviceaccount", "aks", "eks")} == {new["k8s"]}

        retired = retire_key(state)["retired"]
        assert retired["kit"] == old["kit"] and retired["k8s"] == old["k8s"]
        # What a mongod trusting the file's issuer and audience does with it now (JWKS fetched
        # anew): every rule passes, key.kid included.
        providers = {p.issuer: p for p in default_config(state, running.record).oidc_providers}
        for kind in TOKEN_FILES:
            token = token_file_path(state, kind).read_text()
            claims = jwt.decode(token, options={"verify_signature": False})
            aud = claims["aud"][0] if isinstance(claims["aud"], list) else claims["aud"]
            provider = replace(providers[claims["iss"]], audience=aud)
            validate_token(
                token, provider, keyset_for(provider.issuer, state=state, allow_insecure_localhost=True)
            )
    finally:
        stop_idp(state)


def test_retiring_with_nothing_left_to_retire_says_to_rotate_first(
    state: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    sd = ["--state-dir", str(state.path)]
    running = start(state)
    try:
        signing = running.jwks("gcp")["keys"][0]["kid"]
        assert main(["idp", "retire-key", "--issuer", "gcp", *sd]) == 1
        err = capsys.readouterr().err
        assert f"nothing to retire: issuer 'gcp' publishes only the key it signs with ({signing})" in err
        assert "next step: rotate first (`wif idp rotate-keys`" in err

        assert main(["idp", "retire-key", *sd]) == 1  # every issuer
        err = capsys.readouterr().err
        assert "nothing to retire: every issuer publishes only the key it signs with (kit: " in err
        assert "rotate first" in err
        assert [k["kid"] for k in running.jwks("gcp")["keys"]] == [signing]  # nothing changed
    finally:
        stop_idp(state)
    with pytest.raises(ConfigError, match="nothing to retire: every issuer") as info:
        retire_key(state)  # on disk, the IdP stopped: the same answer
    assert "rotate first" in (info.value.hint or "")
