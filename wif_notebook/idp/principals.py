"""The principals catalog: the workloads the mock IdP issues tokens for.

A human-editable YAML file, ``principals.yaml`` in the state directory, written with comments on
first use. Secrets and ids are generated randomly at that moment (never committed anywhere); edit
the file to add a workload, change its groups, or give it extra claims. The running IdP rereads the
file when it changes.

Each principal names the issuer it belongs to (``idp/issuers.py``: ``kit``, ``azure``, ``gcp``,
``k8s``, ``github``) and the infrastructure it runs on, from MongoDB's built-in authentication
table (Compute Engine, App Engine, Cloud Functions, Cloud Run, GKE, Cloud Build; Azure VM), so a
lesson can show that built-in authentication is the same metadata request on each.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypedDict

import yaml

from .. import clouds
from ..errors import ConfigError
from ..state import StateDir, read_text
from .google import GKE_ANNOTATION
from .issuers import AZURE_TOKEN_EXCHANGE_AUDIENCE, ISSUERS

FIELDS = (
    "name",
    "kind",
    "issuer",
    "infrastructure",
    "description",
    "client_id",
    "client_secret",
    "subject",
    "groups",
    "audience",
    "claims",
    "federated_credentials",
    "token_files",
    "annotations",
    "default",
    "roles",
    "access_token_version",
    "system_assigned",
    "certificates",
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A Kubernetes service account's subject: system:serviceaccount:<namespace>:<name>.
SERVICE_ACCOUNT_SUBJECT = re.compile(r"^system:serviceaccount:([a-z0-9-]+):([a-z0-9.-]+)$")


@dataclass(frozen=True)
class FederatedCredential:
    """A trust rule: tokens from ``issuer`` (an issuer id or URL) for ``subject`` and ``audience``
    may stand in for this principal (client assertion, token exchange)."""

    issuer: str
    subject: str
    audience: str = AZURE_TOKEN_EXCHANGE_AUDIENCE


@dataclass
class Principal:
    """One workload identity of the catalog."""

    name: str
    kind: str
    issuer_id: str
    infrastructure: str
    client_id: str
    client_secret: str | None
    subject: str
    groups: list[str]
    claims: dict[str, Any]
    default_audience: str
    description: str = ""
    federated_credentials: list[FederatedCredential] = field(default_factory=list)
    token_files: list[str] = field(default_factory=list)
    # Metadata of the workload's account on its platform, not token claims (e.g. a Kubernetes
    # service account's iam.gke.io/gcp-service-account: GKE Workload Identity's mapping).
    annotations: dict[str, str] = field(default_factory=dict)
    default: bool = False
    # Entra ID only (see the catalog header): app roles, the accessTokenAcceptedVersion of this app
    # as a resource, the host's system-assigned identity, certificates for client assertions.
    roles: list[str] = field(default_factory=list)
    access_token_version: int = 1
    system_assigned: bool = False
    certificates: list[str] = field(default_factory=list)
    # The certificates' public keys by thumbprint (x5t and x5t#S256), as Entra indexes an app's
    # certificates: read once, when the catalog loads.
    certificate_keys: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for listings and the admin endpoint)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "issuer": self.issuer_id,
            "infrastructure": self.infrastructure,
            "description": self.description,
            "client_id": self.client_id,
            "has_client_secret": bool(self.client_secret),
            "subject": self.subject,
            "groups": list(self.groups),
            "audience": self.default_audience,
            "claims": dict(self.claims),
            "federated_credentials": [
                {"issuer": f.issuer, "subject": f.subject, "audience": f.audience}
                for f in self.federated_credentials
            ],
            "token_files": list(self.token_files),
            "annotations": dict(self.annotations),
            "default": self.default,
            "roles": list(self.roles),
            "access_token_version": self.access_token_version,
            "system_assigned": self.system_assigned,
            "certificates": len(self.certificates),
        }

    @property
    def k8s_namespace_and_name(self) -> tuple[str, str]:
        match = SERVICE_ACCOUNT_SUBJECT.match(self.subject)
        return (match.group(1), match.group(2)) if match else ("default", self.name)


class UnreadableCertificate(ValueError):
    """A catalog certificate the kit cannot use: what is wrong with it (after "certificate N of M")
    and what to paste instead."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(what)
        self.hint = hint


def certificate_thumbprints(pem: str) -> tuple[str, str, Any]:
    """(x5t, x5t#S256, public key) of a PEM certificate, as Entra indexes an app's certificates;
    UnreadableCertificate if it cannot be read or its key cannot be loaded."""
    # Imported here: only a catalog with certificates pays for loading cryptography.
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import Encoding

    from .keys import b64url

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise UnreadableCertificate(
            "is not a readable PEM certificate",
            "paste the whole certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----, "
            "as a `|` block (`openssl x509 -in CERT.pem` prints it)",
        ) from exc
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm as exc:  # a key cryptography has no type for (SM2, GOST curves)
        raise UnreadableCertificate(
            f"has a public key the kit cannot load ({exc})",
            "use a certificate with an RSA key, as Entra certificate credentials have "
            "(`openssl req -x509 -newkey rsa:2048 ...`)",
        ) from exc
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    # A client assertion is checked with RS256, PS256 or ES256 (idp/entra): a key none of them
    # uses would fail at the first assertion; say so now.
    if not (
        isinstance(key, rsa.RSAPublicKey)
        or (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1))
    ):
        kind = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
        raise UnreadableCertificate(
            f"has a {kind.removeprefix('_')} key, which no client assertion algorithm the kit checks "
            "(RS256, PS256, ES256) can verify",
            "use a certificate with an RSA key, as Entra certificate credentials have "
            "(`openssl req -x509 -newkey rsa:2048 ...`)",
        )
    der = cert.public_bytes(Encoding.DER)
    return (
        b64url(hashlib.sha1(der).digest()),  # noqa: S324 - x5t is SHA-1 by definition (RFC 7515)
        b64url(hashlib.sha256(der).digest()),
        key,
    )


class _ClientFields(TypedDict):
    client_id: str
    client_secret: str | None


class _EntraFields(TypedDict):
    """Entra ID fields: app roles, the app's accessTokenAcceptedVersion, system-assigned, certificates."""

    roles: list[str]
    access_token_version: int
    system_assigned: bool
    certificates: list[str]
    certificate_keys: dict[str, Any]


# -- the seed --------------------------------------------------------------------------------------
_HEADER = """\
# wif-notebook principals catalog: the workloads the mock identity provider issues tokens for.
#
# Edit freely; the running IdP rereads this file when it changes (`wif idp principals` lists it).
# Secrets and ids below were generated on this machine when the file was first written.
#
# Fields of a principal:
#   name          short friendly name, used by `wif token NAME` and the admin endpoints
#   kind          <KINDS>
#   issuer        <ISSUERS>   (which issuer signs its tokens)
#   infrastructure  where the workload runs (MongoDB's built-in authentication table)
#   client_id, client_secret   for the token endpoint (client_secret_basic or client_secret_post)
#   subject       the token's `sub` (the principal name a MongoDB server sees by default)
#   groups        the token's `groups` claim (mongod authorizationClaim: groups); [] = no groups
#   audience      default `aud` when a request names none (else the issuer's default audience)
#   claims        extra claims added to every token (override the shaped ones)
#   federated_credentials   tokens from another issuer that may stand in for this principal:
#                 - {issuer: k8s, subject: "system:serviceaccount:NS:NAME", audience: api://AzureADTokenExchange}
#   token_files   projected token files written for a Kubernetes service account:
#                 <TOKEN_FILES>
#   annotations   the account's annotations on its platform, e.g. GKE Workload Identity:
#                 {iam.gke.io/gcp-service-account: NAME@PROJECT.iam.gserviceaccount.com}
#   default       true: the identity the Azure IMDS / GCP metadata server answers for by default
#
# Entra ID (issuer azure) only:
#   roles         app roles assigned to this workload: the token's `roles` claim (app-only tokens)
#   access_token_version   for a service-principal used as a RESOURCE (`api://<client_id>`): the
#                 accessTokenAcceptedVersion of its app manifest, 1 (Entra's default, also for null:
#                 issuer <idp>/<tenant>/, aud as requested) or 2 (issuer <idp>/<tenant>/v2.0, aud =
#                 the client id)
#   system_assigned   true: a managed identity that is the host's system-assigned one (IMDS and App
#                 Service answer for it when the request names no identity)
#   certificates  PEM certificates of an app registration: client assertions signed by their keys
#                 (RFC 7523, iss = sub = client_id) authenticate it
"""


def generated_guid() -> str:
    return str(uuid.uuid4())


def generated_google_id() -> str:
    # Google service-account unique ids are 21-digit decimal strings.
    return "1" + "".join(str(secrets.randbelow(10)) for _ in range(20))


def generated_secret() -> str:
    return secrets.token_urlsafe(24)


def seed_entries() -> list[tuple[str, dict[str, Any]]]:
    """The seeded principals with freshly generated ids and secrets, each with a comment: every
    platform's ``seed_principals`` in registry order, then every platform's
    ``seed_principals_later`` (``clouds/``)."""
    entries: list[tuple[str, dict[str, Any]]] = []
    for cloud in clouds.clouds():
        if cloud.seed_principals is not None:
            entries += cloud.seed_principals()
    for cloud in clouds.clouds():
        if cloud.seed_principals_later is not None:
            entries += cloud.seed_principals_later()
    return entries


def _choices(values: list[str], indent: int) -> str:
    """``a | b | c`` for the header, wrapped at 100 columns under the field's column."""
    lines = [values[0]]
    for value in values[1:]:
        if indent + len(lines[-1]) + len(value) + 3 > 100:
            lines.append(f"| {value}")
        else:
            lines[-1] += f" | {value}"
    return "\n#                 ".join(lines)


def _header() -> str:
    """The catalog's header: its field list, with the kinds, issuers and token files the cloud
    registry declares (a new platform's appear without editing this module)."""
    column = len("#   kind          ")
    return (
        _HEADER.replace("<KINDS>", _choices(list(clouds.principal_kinds()), column))
        .replace("<ISSUERS>", _choices([i for c in clouds.clouds() for i in c.issuer_ids], column))
        .replace("<TOKEN_FILES>", _choices(list(clouds.token_files()), column))
    )


def render_seed() -> str:
    """The commented YAML text of a fresh catalog."""
    parts = [_header(), "principals:\n"]
    for comment, entry in seed_entries():
        parts.append(f"\n  # {comment}\n")
        dumped = yaml.safe_dump([entry], sort_keys=False, default_flow_style=None, width=100)
        parts.append("".join(f"  {line}\n" for line in dumped.splitlines()))
    return "".join(parts)


# -- loading ---------------------------------------------------------------------------------------
def _line_map(text: str) -> tuple[dict[int, int], dict[tuple[int, str], int]]:
    """1-based lines of each principal and of each of its fields, for error messages."""
    items: dict[int, int] = {}
    fields: dict[tuple[int, str], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return items, fields
    if not isinstance(root, yaml.MappingNode):
        return items, fields
    for key, value in root.value:
        if getattr(key, "value", None) == "principals" and isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                items[i] = item.start_mark.line + 1
                if isinstance(item, yaml.MappingNode):
                    for k, v in item.value:
                        fields[(i, str(k.value))] = v.start_mark.line + 1
    return items, fields


def parse_catalog(text: str, source: str = "principals.yaml") -> list[Principal]:
    """Parse and check catalog text; a mistake → ConfigError naming the line and the field."""
    fix = f"edit {source} (or delete it to get a fresh seeded catalog)"
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{source}{where}: not valid YAML ({problem})",
            hint=f"{fix}; check the indentation and quoting near that line",
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("principals"), list):
        raise ConfigError(
            f"{source}: expected a top-level `principals:` list",
            hint=f"{fix}; the file starts with `principals:` followed by `- name: ...` entries",
        )
    item_lines, field_lines = _line_map(text)
    seen = _Seen({}, {}, {})
    return [
        _ItemParser(raw, i, item_lines.get(i, 0), field_lines, source, fix, seen).parse()
        for i, raw in enumerate(doc["principals"])
    ]


@dataclass
class _Seen:
    """What earlier principals of the catalog took: names, client ids, token files."""

    names: dict[str, int]
    clients: dict[tuple[str, str], str]
    token_file_owner: dict[str, str]


class _ItemParser:
    """One principal of the catalog, field group by field group; every mistake names its line."""

    def __init__(
        self,
        raw: Any,
        i: int,
        line: int,
        field_lines: dict[tuple[int, str], int],
        source: str,
        fix: str,
        seen: _Seen,
    ) -> None:
        self.raw, self.i, self.line, self.field_lines = raw, i, line, field_lines
        self.source, self.fix, self.seen = source, fix, seen

    def fail(self, field_name: str | None, message: str, hint: str) -> NoReturn:
        at = self.field_lines.get((self.i, field_name), self.line) if field_name else self.line
        label = f"field {field_name!r} " if field_name else ""
        name = self.raw.get("name") if isinstance(self.raw, dict) else None
        who = f"principal {name!r}" if name else f"principal #{self.i + 1}"
        raise ConfigError(f"{self.source} line {at}: {who} {label}{message}", hint=f"{hint}; {self.fix}")

    def text_field(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.raw.get(key, None)
        if value is None:
            if required:
                self.fail(None, f"has no {key!r}", f"add `{key}: ...` to this principal")
            return default
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.fail(key, f"must be a string, got {value!r}", f'write `{key}: "..."`')
        return str(value)

    def parse(self) -> Principal:
        raw = self.raw
        if not isinstance(raw, dict):
            self.fail(None, "is not a mapping", "write each principal as `- name: ...` with its fields")
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            self.fail(unknown[0], "is not a known field", f"known fields: {', '.join(FIELDS)}")
        name, kind, issuer_id = self.identity()
        client = self.client(name, kind, issuer_id)
        subject = self.subject(name, kind)
        groups, claims = self.groups_and_claims()
        audience = self.text_field("audience", default=ISSUERS[issuer_id].default_audience)
        creds = self.federated_credentials()
        token_files = self.token_files(name)
        annotations = self.annotations()
        default = raw.get("default", False)
        if not isinstance(default, bool):
            self.fail("default", f"must be true or false, got {default!r}", "write `default: true`")
        entra = self.entra(kind)
        return Principal(
            name=name,
            kind=kind,
            issuer_id=issuer_id,
            infrastructure=self.text_field("infrastructure"),
            **client,
            subject=subject,
            groups=groups,
            claims=claims,
            default_audience=audience,
            description=self.text_field("description"),
            federated_credentials=creds,
            token_files=token_files,
            annotations=annotations,
            default=default,
            **entra,
        )

    def entra(self, kind: str) -> _EntraFields:
        """Entra ID fields: roles, access_token_version, system_assigned, certificates."""
        raw, fail = self.raw, self.fail
        roles = raw.get("roles", []) or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            fail("roles", f"must be a list of strings, got {roles!r}", "write `roles: [Orders.Read]`")
        version = raw.get("access_token_version", 1)
        if version is None:
            version = 1  # Entra treats a null accessTokenAcceptedVersion as 1
        if version not in (1, 2) or isinstance(version, bool):
            fail(
                "access_token_version", f"must be 1 or 2, got {version!r}", "write `access_token_version: 2`"
            )
        system_assigned = raw.get("system_assigned", False)
        if not isinstance(system_assigned, bool) or (system_assigned and kind != "managed-identity"):
            fail(
                "system_assigned",
                f"must be true or false, and true only for a managed-identity, got {system_assigned!r}",
                "write `system_assigned: true` on a managed identity",
            )
        certificates = raw.get("certificates", []) or []
        if not isinstance(certificates, list) or not all(
            isinstance(c, str) and "BEGIN CERTIFICATE" in c for c in certificates
        ):
            fail(
                "certificates",
                "must be a list of PEM certificates",
                "paste each certificate as a `|` block starting with -----BEGIN CERTIFICATE-----",
            )
        keys: dict[str, Any] = {}
        for n, pem in enumerate(certificates, 1):
            try:
                x5t, x5t_s256, key = certificate_thumbprints(pem)
            except UnreadableCertificate as exc:
                fail("certificates", f"certificate {n} of {len(certificates)} {exc}", exc.hint)
            keys[x5t] = keys[x5t_s256] = key
        return _EntraFields(
            roles=list(roles),
            access_token_version=int(version),
            system_assigned=system_assigned,
            certificates=list(certificates),
            certificate_keys=keys,
        )

    def identity(self) -> tuple[str, str, str]:
        """name (unique), kind, issuer (the one the kind requires)."""
        fail, seen_names = self.fail, self.seen.names
        name = self.text_field("name", required=True)
        if not _NAME.match(name):
            fail("name", f"{name!r} is not a short name", "use letters, digits, '.', '_' or '-'")
        if name in seen_names:
            fail("name", f"repeats the name of the principal on line {seen_names[name]}", "rename one")
        seen_names[name] = self.line
        kind = self.text_field("kind", required=True)
        kinds = clouds.principal_kinds()
        if kind not in kinds:
            fail("kind", f"{kind!r} is not a known kind", f"use one of {', '.join(kinds)}")
        issuer_id = self.text_field("issuer", required=True)
        if issuer_id not in ISSUERS:
            fail("issuer", f"{issuer_id!r} is not an issuer", f"use one of {', '.join(ISSUERS)}")
        required = kinds[kind].issuer
        if required is not None and required != issuer_id:
            fail("issuer", f"must be {required!r} for kind {kind!r}", f"write `issuer: {required}`")
        return name, kind, issuer_id

    def client(self, name: str, kind: str, issuer_id: str) -> _ClientFields:
        """client_id (unique per issuer) and client_secret (required for secret-holding kinds)."""
        client_id = self.text_field("client_id", default=name)
        client_secret = self.text_field("client_secret") or None
        if clouds.principal_kinds()[kind].client_secret and not client_secret:
            self.fail(None, f"of kind {kind!r} has no client_secret", "add `client_secret: <random text>`")
        key = (issuer_id, client_id)
        if key in self.seen.clients:
            self.fail(
                "client_id", f"{client_id!r} is already used by {self.seen.clients[key]!r}", "pick another"
            )
        self.seen.clients[key] = name
        return _ClientFields(client_id=client_id, client_secret=client_secret)

    def subject(self, name: str, kind: str) -> str:
        rules = clouds.principal_kinds()[kind]
        subject = self.text_field("subject", default=name if rules.subject_is_name else "")
        if not subject and not rules.subject_is_name:
            self.fail(None, "has no subject", "add `subject: ...` (the token's sub)")
        wrong = rules.check_subject(subject) if rules.check_subject else None
        if wrong is not None:
            self.fail("subject", *wrong)
        return subject

    def groups_and_claims(self) -> tuple[list[str], dict[str, Any]]:
        groups = self.raw.get("groups", [])
        if groups is None:
            groups = []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            self.fail("groups", f"must be a list of strings, got {groups!r}", "write `groups: [readers]`")
        claims = self.raw.get("claims", {}) or {}
        if not isinstance(claims, dict) or not all(isinstance(k, str) for k in claims):
            self.fail(
                "claims",
                f"must be a mapping of claim names to values, got {claims!r}",
                "write `claims: {team: billing}`",
            )
        return list(groups), dict(claims)

    def federated_credentials(self) -> list[FederatedCredential]:
        creds: list[FederatedCredential] = []
        raw_creds = self.raw.get("federated_credentials", []) or []
        if not isinstance(raw_creds, list):
            self.fail(
                "federated_credentials",
                "must be a list",
                "write `- {issuer: k8s, subject: ..., audience: ...}`",
            )
        for cred in raw_creds:
            if (
                not isinstance(cred, dict)
                or not isinstance(cred.get("issuer"), str)
                or not isinstance(cred.get("subject"), str)
                or not isinstance(cred.get("audience", AZURE_TOKEN_EXCHANGE_AUDIENCE), str)
            ):
                self.fail(
                    "federated_credentials",
                    f"entry {cred!r} needs string fields issuer, subject (and audience)",
                    "write `- {issuer: k8s, subject: system:serviceaccount:NS:NAME, "
                    "audience: api://AzureADTokenExchange}`",
                )
            creds.append(
                FederatedCredential(
                    issuer=cred["issuer"],
                    subject=cred["subject"],
                    audience=cred.get("audience", AZURE_TOKEN_EXCHANGE_AUDIENCE),
                )
            )
        return creds

    def token_files(self, name: str) -> list[str]:
        token_files = self.raw.get("token_files", []) or []
        known = clouds.token_files()  # the projected token files the platforms declare
        if not isinstance(token_files, list) or any(t not in known for t in token_files):
            self.fail(
                "token_files",
                f"must list some of {', '.join(known)}, got {token_files!r}",
                "write `token_files: [serviceaccount, aks]`",
            )
        owner = self.seen.token_file_owner
        for tf in token_files:
            if tf in owner:
                self.fail(
                    "token_files",
                    f"{tf!r} is already written for {owner[tf]!r}",
                    "give each token file to one principal",
                )
            owner[tf] = name
        return list(token_files)

    def annotations(self) -> dict[str, str]:
        annotations = self.raw.get("annotations", {}) or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            self.fail(
                "annotations",
                f"must map names to strings, got {annotations!r}",
                f"write `annotations: {{{GKE_ANNOTATION}: NAME@PROJECT.iam.gserviceaccount.com}}`",
            )
        return dict(annotations)


def ensure_catalog(state: StateDir) -> None:
    """Write the seeded catalog (0600) unless one exists."""
    if not state.principals_file.exists():
        state.write_private(state.principals_file, render_seed())


def load_catalog(state: StateDir) -> list[Principal]:
    """The catalog of ``state``, seeded on first use."""
    ensure_catalog(state)
    text = read_text(
        state.principals_file,
        ConfigError,
        f"cannot read {state.principals_file}",
        "check its permissions, or delete it to get a fresh seeded catalog",
    )
    return parse_catalog(text, str(state.principals_file))


def find_in(principals: list[Principal], name: str, source: str = "the catalog") -> Principal:
    for p in principals:
        if p.name == name:
            return p
    known = ", ".join(p.name for p in principals) or "(none)"
    raise ConfigError(
        f"no principal named {name!r} in {source}",
        hint=f"use one of: {known}; or add it to principals.yaml (`wif idp principals` lists them)",
    )


def find(state: StateDir, name: str) -> Principal:
    """The principal called ``name``; ConfigError listing the known names otherwise."""
    return find_in(load_catalog(state), name, str(state.principals_file))
