"""Google Cloud as google-auth sees it: the metadata server and Google's certificate endpoints.

Paths (``B`` = the IdP's http origin; google-auth reads ``GCE_METADATA_HOST``/``GCE_METADATA_IP``):

- ``GET /``  the ping (``_metadata.ping``): 200 with the ``Metadata-Flavor: Google`` reply header
- ``GET /computeMetadata/v1/...``  ``instance/service-accounts/{default|EMAIL}/`` (``?recursive=true``
  gives JSON), ``.../email``, ``.../aliases``, ``.../scopes``, ``.../token`` (an access token),
  ``.../identity?audience=A[&format=full][&licenses=TRUE]`` (an ID token), ``project/project-id``,
  ``project/numeric-project-id``, ``instance/{id,name,zone}``, ``universe/universe-domain``
- ``GET B/gcp/oauth2/v1/certs``  ``{kid: PEM certificate}`` as ``https://www.googleapis.com/oauth2/v1/certs``
  (the v3 JWKS is the gcp issuer's ``jwks_uri``, served with the other issuers)

Which instance asks: a real metadata server tells instances (and GKE pods) apart by their source
address; the kit serves them all on one loopback port, so the user-info part of the metadata host
names the instance (``GCE_METADATA_HOST=gce-worker:@localhost:8123``: requests sends it as a Basic
user name). Without one, the instance's identity is the default service account (switchable with
``/_wif/metadata-default``). A Kubernetes service account annotated with
``iam.gke.io/gcp-service-account`` gets that Google service account's tokens, as GKE Workload
Identity's metadata server gives them.

Every reply, errors included, carries ``Metadata-Flavor: Google``; errors are plain text as the real
server sends them, so google-auth raises its own ``TransportError``/``RefreshError``.

This module imports the IdP's request/response types only when a request arrives, so the cloud
registry can import it without an import cycle (``clouds/__init__.py``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import secrets
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .messages import Request, Response, json_response, text_response

if TYPE_CHECKING:
    from .app import IdentityProvider
    from .keys import SigningKey
    from .principals import Principal

GKE_ANNOTATION = "iam.gke.io/gcp-service-account"
METADATA_ROOT = "/computeMetadata/v1/"
V1_CERTS_PATH = "/gcp/oauth2/v1/certs"
DEFAULT_PROJECT = "wif-kit-demo"
DEFAULT_ZONE = "europe-west1-b"
# The scopes a default Compute Engine service account has with the "cloud-platform" access scope.
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# License code of a Debian 12 image: what `licenses=TRUE` adds (the value is an example; UNCONFIRMED).
DEFAULT_LICENSE_IDS = ("2147286739765738111",)
ACCESS_TOKEN_SECONDS = 3599
# Google's certificates are valid for about two weeks and re-published daily.
CERT_DAYS = 14

_FLAVOR = {"Metadata-Flavor": "Google", "Server": "Metadata Server for VM"}


# -- the identity of an instance (pure functions: minting and the catalog seed use them too) --------
def _digits(seed: str, count: int) -> str:
    """``count`` decimal digits derived from ``seed`` (stable across runs), not starting with 0."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    text = str(number)[:count]
    return text if text[0] != "0" else "1" + text[1:]


def project_number(project_id: str) -> int:
    """A project's number (12 digits), the same for every service account of that project."""
    return int(_digits(f"project:{project_id}", 12))


def email_of(principal: Principal) -> str:
    return str(principal.claims.get("email") or principal.client_id)


def project_of(principal: Principal) -> str:
    """``NAME@PROJECT.iam.gserviceaccount.com`` belongs to PROJECT."""
    domain = email_of(principal).partition("@")[2]
    project = domain.split(".", 1)[0] if domain.endswith(".iam.gserviceaccount.com") else ""
    return project or DEFAULT_PROJECT


def compute_engine_block(principal: Principal, *, licenses: bool = False) -> dict[str, Any]:
    """The ``google.compute_engine`` claim of a ``format=full`` ID token: the catalog's values
    (``claims.google.compute_engine``) over ones derived from the principal, typed as Google
    types them (``project_number`` and ``instance_creation_timestamp`` numbers, ``instance_id`` a
    string)."""
    project = project_of(principal)
    block: dict[str, Any] = {
        "instance_creation_timestamp": 1764400000,
        "instance_id": _digits(f"instance:{principal.name}", 19),
        "instance_name": f"{principal.name}-1",
        "project_id": project,
        "project_number": project_number(project),
        "zone": DEFAULT_ZONE,
    }
    google = principal.claims.get("google")
    if isinstance(google, dict) and isinstance(google.get("compute_engine"), dict):
        block.update(google["compute_engine"])
    if licenses:
        block["license_id"] = list(DEFAULT_LICENSE_IDS)
    return block


# -- the v1 certificate map --------------------------------------------------------------------------
_certs_lock = threading.Lock()
_certs: dict[str, tuple[str, datetime.datetime]] = {}  # kid → (PEM, not_after)


def certificate_pem(key: SigningKey) -> str:
    """A self-signed X.509 certificate for a published key, as Google publishes its keys at
    ``/oauth2/v1/certs`` (google-auth's verifier reads the public key from it). Made once per key
    and process, again once it expired."""
    from cryptography.hazmat.primitives import serialization

    from ..tls import build_certificate

    now = datetime.datetime.now(datetime.UTC)
    with _certs_lock:
        cached = _certs.get(key.kid)
        if cached is not None and cached[1] > now + datetime.timedelta(days=1):
            return cached[0]
        cert = build_certificate(
            key.key.public_key(),
            key.key,
            key.kid,
            lifetime=datetime.timedelta(days=CERT_DAYS),
            backdate=datetime.timedelta(days=1),
            serial=int.from_bytes(hashlib.sha256(key.kid.encode()).digest()[:16], "big") >> 1,
        )
        not_after = cert.not_valid_after_utc
        pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        _certs[key.kid] = (pem, not_after)
        return pem


def v1_certs(idp: IdentityProvider) -> Response:
    keys = idp.keys.issuer("gcp")
    doc = {kid: certificate_pem(k) for kid in keys.published_kids() if (k := keys.find(kid)) is not None}
    return json_response(200, doc, headers={"Cache-Control": "public, max-age=21600"}, issuer="gcp")


# -- the metadata server ----------------------------------------------------------------------------
def handle(idp: IdentityProvider, req: Request) -> Response | None:
    """The registry's ``idp_handler`` for Google Cloud: None for paths Google does not own."""
    path = req.path
    if path.startswith(METADATA_ROOT):
        return _metadata(idp, req, path[len(METADATA_ROOT) :])
    if path in ("", "/"):
        # google-auth's ping: any 200 that carries the flavor header. The IdP index answers it.
        answer = idp.index(req)
        answer.headers.update(_FLAVOR)
        return answer
    if path == V1_CERTS_PATH and req.method == "GET":
        return v1_certs(idp)
    return None


class _MetadataError(Exception):
    def __init__(self, status: int, text: str, code: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.code = code


def _instance_name(req: Request) -> str | None:
    """The instance named by the user-info of the metadata host (a Basic user name), if any."""
    header = req.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user or None


def _account_of_workload(catalog: list[Principal], accounts: list[Principal], name: str) -> Principal:
    """The Google service account workload ``name`` (the user name in GCE_METADATA_HOST) has."""
    caller = next((p for p in catalog if p.name == name), None)
    if caller is None:
        raise _MetadataError(
            404,
            f"Not Found: no workload named {name!r} (the user name in GCE_METADATA_HOST); "
            "`wif idp principals` lists them",
            "not_found",
        )
    if caller.kind == "service-account":
        return caller
    # GKE Workload Identity: the pod's Kubernetes service account stands for the Google service
    # account its annotation names; without one the pod has no Google identity for ID tokens
    # (UNCONFIRMED: the GKE metadata server's exact error text).
    mapped = str(caller.annotations.get(GKE_ANNOTATION, ""))
    found = next((p for p in accounts if mapped and email_of(p) == mapped), None)
    if found is None:
        hint = (
            f"its {GKE_ANNOTATION} annotation names {mapped!r}, which is no service account"
            if mapped
            else f"annotate it with {GKE_ANNOTATION}: <service account email> in principals.yaml"
        )
        raise _MetadataError(404, f"Not Found: {name!r} has no Google service account ({hint})", "not_found")
    return found


def _service_account(idp: IdentityProvider, req: Request, account: str) -> Principal:
    """The service account ``account`` (``default`` or an email) of the calling instance."""
    catalog = idp.principals()
    accounts = [p for p in catalog if p.kind == "service-account"]
    name = _instance_name(req)
    attached: Principal | None
    if name is not None:
        attached, where = _account_of_workload(catalog, accounts, name), f"instance {name!r}"
    elif account != "default":
        # No instance named: the kit's own instance, which has every service account attached
        # (tokens.gcp_metadata asks by email for a lesson's chosen account).
        attached = next((p for p in accounts if account in (email_of(p), p.client_id)), None)
        where = "this instance"
    else:
        attached, where = idp.metadata_default_principal("gcp", accounts), "this instance"
    if attached is None and account != "default":
        raise _MetadataError(
            404,
            f"Not Found: no service account {account!r} on {where}; `wif idp principals` lists them",
            "not_found",
        )
    if attached is None:
        raise _MetadataError(
            404,
            f"Not Found: {where} has no service account; add one of kind service-account to principals.yaml",
            "not_found",
        )
    if account not in ("default", email_of(attached), attached.client_id):
        raise _MetadataError(
            404,
            f"Not Found: no service account {account!r} on {where} (it has {email_of(attached)}); "
            "`wif idp principals` lists them",
            "not_found",
        )
    return attached


def _metadata(idp: IdentityProvider, req: Request, rest: str) -> Response:
    def error(status: int, text: str, code: str) -> Response:
        return text_response(status, text + "\n", headers=_FLAVOR, issuer="gcp", grant="metadata", error=code)

    if req.method != "GET":
        return error(405, "Method not allowed: the metadata server answers GET", "method")
    if "x-forwarded-for" in req.headers:
        return error(403, "Forbidden: the metadata server refuses requests with X-Forwarded-For", "forbidden")
    if req.headers.get("metadata-flavor") != "Google":
        return error(403, 'Missing required header "Metadata-Flavor": "Google"', "forbidden")
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    try:
        return _answer(idp, req, rest, query)
    except _MetadataError as exc:
        return error(exc.status, exc.text, exc.code)


def _text(value: str, **log: Any) -> Response:
    # The real server labels plain values application/text.
    return text_response(
        200, value, content_type="application/text", headers=_FLAVOR, issuer="gcp", grant="metadata", **log
    )


def _answer(idp: IdentityProvider, req: Request, rest: str, query: dict[str, str]) -> Response:
    parts = rest.split("/")
    if parts[:2] == ["instance", "service-accounts"] and len(parts) >= 3:
        account = parts[2]
        if len(parts) == 3 or not account:
            # instance/service-accounts/ (or without the slash): the accounts as a listing.
            principal = _service_account(idp, req, "default")
            return _text(f"default/\n{email_of(principal)}/\n")
        return _account_leaf(idp, _service_account(idp, req, account), "/".join(parts[3:]), query)
    if parts[0] in ("project", "instance"):
        principal = _service_account(idp, req, "default")
        block = compute_engine_block(principal)
        values = {
            "project/project-id": block["project_id"],
            "project/numeric-project-id": str(block["project_number"]),
            "instance/id": str(block["instance_id"]),
            "instance/name": block["instance_name"],
            "instance/zone": f"projects/{block['project_number']}/zones/{block['zone']}",
            "instance/hostname": f"{block['instance_name']}.{block['zone']}.c.{block['project_id']}.internal",
        }
        if rest in values:
            return _text(str(values[rest]), principal=principal.name)
    if rest == "universe/universe-domain":
        return _text("googleapis.com")
    raise _MetadataError(
        404,
        f"Not Found: {METADATA_ROOT}{rest} (the kit serves instance/service-accounts/{{default|EMAIL}}/"
        "{email,aliases,scopes,token,identity}, project/project-id, project/numeric-project-id, "
        "instance/{id,name,zone,hostname})",
        "not_found",
    )


def _account_leaf(idp: IdentityProvider, principal: Principal, leaf: str, query: dict[str, str]) -> Response:
    email = email_of(principal)
    if leaf == "" and query.get("recursive", "").lower() == "true":
        info = {"aliases": ["default"], "email": email, "scopes": list(DEFAULT_SCOPES)}
        return json_response(
            200, info, headers=_FLAVOR, issuer="gcp", grant="metadata", principal=principal.name
        )
    if leaf == "token":
        # An OAuth 2.0 access token for Google APIs: opaque (not a JWT), as Google's "ya29." ones.
        doc = {
            "access_token": "ya29." + secrets.token_urlsafe(64),
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "Bearer",
        }
        return json_response(
            200,
            doc,
            headers={**_FLAVOR, "Cache-Control": "no-store"},
            issuer="gcp",
            grant="metadata",
            principal=principal.name,
        )
    if leaf == "identity":
        return _identity(idp, principal, query)
    values = {
        "": "aliases\nemail\nidentity\nscopes\ntoken\n",
        "email": email,
        "aliases": "default\n",
        "scopes": "".join(f"{s}\n" for s in DEFAULT_SCOPES),
    }
    if leaf in values:
        return _text(values[leaf], principal=principal.name)
    raise _MetadataError(
        404,
        f"Not Found: service-accounts/{email}/{leaf} (known: email, aliases, scopes, token, identity)",
        "not_found",
    )


def _identity(idp: IdentityProvider, principal: Principal, query: dict[str, str]) -> Response:
    audience = query.get("audience", "")
    if not audience:
        raise _MetadataError(400, "non-empty audience parameter required", "invalid_request")
    fmt = query.get("format", "standard")
    if fmt not in ("standard", "full"):
        raise _MetadataError(400, f"invalid format {fmt!r}: use standard or full", "invalid_request")
    licenses = query.get("licenses", "FALSE").upper() == "TRUE"
    minted = idp.minter.mint(
        principal,
        audience=audience,
        extra_claims=(
            {"google": {"compute_engine": compute_engine_block(principal, licenses=licenses)}}
            if fmt == "full"
            else None
        ),
    )
    # Content type as the salrashid123 emulator sends it; the real one is UNCONFIRMED.
    return text_response(
        200,
        minted.token,
        content_type="text/html; charset=utf-8",
        headers=_FLAVOR,
        issuer="gcp",
        grant="metadata",
        principal=principal.name,
    )
