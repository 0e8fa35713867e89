"""The principals catalog: seeded with comments, private, round-trips, and explains bad edits."""

from __future__ import annotations

import datetime
import stat
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from wif_notebook.errors import ConfigError
from wif_notebook.idp.issuers import ISSUERS
from wif_notebook.idp.principals import find, load_catalog, parse_catalog, render_seed
from wif_notebook.state import StateDir

GCP_INFRASTRUCTURES = {
    "Compute Engine",
    "App Engine standard environment",
    "App Engine flexible environment",
    "Cloud Functions",
    "Cloud Run",
    "Google Kubernetes Engine",
    "Cloud Build",
}


def test_first_use_writes_a_commented_private_catalog(state: StateDir) -> None:
    principals = load_catalog(state)
    text = state.principals_file.read_text()
    assert text.startswith("# wif-notebook principals catalog")
    assert "\n  # Azure user-assigned managed identity" in text
    assert stat.S_IMODE(state.principals_file.stat().st_mode) == 0o600
    assert load_catalog(state) == principals, "a second load reads the same file"


def test_seed_covers_the_lessons(state: StateDir) -> None:
    principals = {p.name: p for p in load_catalog(state)}
    billing = principals["billing-api"]
    assert (billing.kind, billing.issuer_id, billing.default_audience) == (
        "client-credentials",
        "kit",
        ISSUERS["kit"].default_audience,
    )
    assert principals["inventory-vm"].infrastructure == "Azure VM"
    assert principals["inventory-vm"].kind == "managed-identity"
    assert principals["reports-sp"].kind == "service-principal" and principals["reports-sp"].client_secret
    assert {
        p.infrastructure for p in principals.values() if p.kind == "service-account"
    } == GCP_INFRASTRUCTURES
    assert principals["orders-worker"].subject == "system:serviceaccount:shop:orders-worker"
    assert principals["no-groups-app"].groups == []
    # GKE Workload Identity: a Kubernetes service account mapped to a Google service account.
    gke = principals["recommender-ksa"].annotations["iam.gke.io/gcp-service-account"]
    assert gke == principals["gke-recommender"].client_id
    assert principals["deploy-workflow"].kind == "github-workflow"


def test_secrets_are_generated_per_catalog() -> None:
    first = {p.name: p.client_secret for p in parse_catalog(render_seed())}
    second = {p.name: p.client_secret for p in parse_catalog(render_seed())}
    assert first["billing-api"] and first["billing-api"] != second["billing-api"]


def test_find_unknown_principal_lists_the_known_ones(state: StateDir) -> None:
    with pytest.raises(ConfigError) as info:
        find(state, "nobody")
    assert "billing-api" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            "groups: [billing-writers, reports-readers]",
            "groups: billing-writers",
            "field 'groups' must be a list",
        ),
        ("kind: client-credentials", "kind: robot", "field 'kind' 'robot' is not a known kind"),
        ("issuer: kit", "issuer: okta", "field 'issuer' 'okta' is not an issuer"),
        ("subject: billing-api", "subjekt: billing-api", "field 'subjekt' is not a known field"),
        ("  - name: lesson-app", "  - name: billing-api", "repeats the name"),
        ("principals:", "principal:", "expected a top-level `principals:` list"),
        ("groups: [billing-writers", "groups: [billing-writers, {", "not valid YAML"),
        (
            "annotations: {iam.gke.io/gcp-service-account: gke-recommender@wif-kit-demo.iam.gserviceaccount"
            ".com}",
            "annotations: [gke-recommender]",
            "field 'annotations' must map names",
        ),
    ],
)
def test_bad_catalog_names_the_line_and_field(replace: str, by: str, expected: str) -> None:
    text = render_seed()
    assert replace in text
    bad = text.replace(replace, by, 1)
    with pytest.raises(ConfigError) as info:
        parse_catalog(bad, "principals.yaml")
    message = str(info.value)
    assert expected in message
    assert "line" in message or "top-level" in message
    assert "principals.yaml" in message and info.value.hint


def test_error_line_number_points_at_the_field() -> None:
    text = render_seed().replace("groups: [lesson-readers]", "groups: 5", 1)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip() == "groups: 5")
    with pytest.raises(ConfigError, match=f"line {line}:"):
        parse_catalog(text)


CERT_APP = """
  - name: cert-app
    kind: service-principal
    issuer: azure
    client_id: 91a2b3c4-d5e6-4f70-8192-9c0d1e2f3a4b
    client_secret: not-a-real-secret-0123456789
    subject: a2b3c4d5-e6f7-4081-9203-0d1e2f3a4b5c
    certificates:
      - |
        -----BEGIN CERTIFICATE-----
        MIIBnot-a-certificate
        -----END CERTIFICATE-----
"""


def test_a_certificate_that_cannot_be_read_is_named_when_the_catalog_loads() -> None:
    text = render_seed() + CERT_APP
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip() == "- |")
    with pytest.raises(ConfigError) as info:
        parse_catalog(text, "principals.yaml")
    assert str(info.value).startswith(
        f"principals.yaml line {line}: principal 'cert-app' field 'certificates' certificate 1 of 1 "
        "is not a readable PEM certificate"
    )
    assert "-----BEGIN CERTIFICATE-----" in (info.value.hint or "")


def _certificate_with_an_sm2_key() -> str:
    """A PEM certificate whose key is on the SM2 curve, which cryptography has no type for: a P-256
    certificate with its curve's OID swapped for SM2's (same length; loading checks no signature)."""
    cert = x509.load_pem_x509_certificate(
        _self_signed(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()).encode()
    )
    p256, sm2 = bytes.fromhex("06082a8648ce3d030107"), bytes.fromhex("06082a811ccf5501822d")
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der.count(p256) == 1
    pem = x509.load_der_x509_certificate(der.replace(p256, sm2)).public_bytes(serialization.Encoding.PEM)
    return pem.decode()


def _self_signed(key: Any, algorithm: Any) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd-key-app")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, algorithm)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: _self_signed(ed25519.Ed25519PrivateKey.generate(), None), "Ed25519PublicKey"),
        (lambda: _self_signed(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384()), "secp384r1"),
    ],
)
def test_a_certificate_whose_key_no_assertion_algorithm_uses_is_named_when_the_catalog_loads(
    make: Callable[[], str], kind: str
) -> None:
    pem = textwrap.indent(make(), " " * 8)
    text = render_seed() + CERT_APP.split("      - |")[0] + "      - |\n" + pem
    with pytest.raises(ConfigError) as info:
        parse_catalog(text, "principals.yaml")
    assert f"certificate 1 of 1 has a {kind} key, which no client assertion algorithm" in str(info.value)
    assert "RSA key" in (info.value.hint or "")


def test_a_certificate_whose_key_the_kit_cannot_load_is_named_when_the_catalog_loads() -> None:
    pem = textwrap.indent(_certificate_with_an_sm2_key(), " " * 8)
    text = render_seed() + CERT_APP.split("      - |")[0] + "      - |\n" + pem
    with pytest.raises(ConfigError) as info:
        parse_catalog(text, "principals.yaml")
    assert "principal 'cert-app' field 'certificates' certificate 1 of 1 has a public key the kit " in str(
        info.value
    )
    assert "1.2.156.10197.1.301 is not supported" in str(info.value)
    assert "RSA key" in (info.value.hint or "")
