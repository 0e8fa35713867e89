"""The cloud registry: one module per workload platform, and the one table the rest of the kit reads.

Each platform the kit emulates (the kit's own test issuer, Microsoft Entra ID / Azure, Google Cloud,
Kubernetes, GitHub Actions) has exactly one module here that declares everything about it:

- its issuers (``issuers``: the shape of each, ``idp/issuers.py``'s ``Issuer``) and the principal
  kinds it hosts, each with the issuer it requires and the catalog's rules (``principal_kinds``);
- the IdP endpoints that imitate the platform (``idp_handler``: a function of the IdP and a request
  that answers the platform's paths and returns ``None`` for any other path), and how its tokens'
  claims look (``shape_claims``);
- the endpoint its hosts have at a fixed address (``metadata``: IMDS, the Google metadata server),
  which cloudsim answers for the kit;
- the vendor's public https hosts its SDKs call at fixed URLs (``vendor_hosts``: MSAL's instance
  discovery at ``login.microsoftonline.com``, Google's certificates at ``www.googleapis.com``), each
  with the paths the kit answers there and the IdP path that answers each; the IdP's vendor-host
  proxy (``idp/vendorproxy.py``, ``HTTPS_PROXY`` in ``wif env --principal``) serves exactly these;
- the pymongo ``ENVIRONMENT`` a workload on it uses, where pymongo reads its token on a real host
  and how ``connect()`` prepares it in the kit (``connect``: a ``ConnectPlan``);
- the projected token files its workloads can have (``token_files``) and what ``wif env`` exports
  for each;
- the environment variables a workload of a given principal has on its real host
  (``workload_env``), which ``wif env --principal NAME`` prints after the common part
  (``common_env``: the CA bundle variables, so the SDKs trust the kit CA and nothing less);
- how such a workload gets its token: ``tokens.obtain``'s methods it brings (``token_methods``),
  which one each principal kind uses by default (``default_token_methods``) and, when pymongo has
  no built-in way, the workload's own (``workload_token``);
- the claim a MongoDB server maps to roles for its tokens (``authorization_claim``, mongod.conf);
- the principals a fresh catalog gets for it (``seed_principals``, principals.yaml; those added to
  the kit later, ``seed_principals_later``, come after every platform's first ones, so a fresh
  catalog keeps the order it has always had);
- issuers it publishes besides its own (``extra_issuers``: Entra's v1 issuer shares the ``azure``
  keys), which the IdP's service record lists and mongod.conf trusts by default, and plain words
  for the issuer mistakes typical of it (``explain_issuer``).

Adding a platform is adding one module and one line in ``_MODULES`` below (or, outside this
package, naming the module in ``WIF_EXTRA_CLOUDS``); nothing else changes.
The modules import nothing from ``idp.app`` at import time, so the IdP can read this registry
without an import cycle.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..environ import EnvChanges
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..idp.issuers import Issuer
    from ..idp.principals import Principal
    from ..state import StateDir
    from ..tokens import IssuedToken


@dataclass(frozen=True)
class EnvContext:
    """What a cloud module needs to say where a workload's endpoints are in this kit.

    ``idp_https`` and ``idp_http`` are the same IdP port reached over TLS and in the clear: token
    endpoints are https as in production, metadata endpoints (IMDS, Google's metadata server, the
    App Service identity endpoint) are plain http as on a real host.
    """

    state: StateDir
    idp_https: str  # e.g. https://localhost:8123
    idp_http: str  # e.g. http://localhost:8123
    ca_bundle: Path | None  # PEM bundle: public roots + the kit CA (None: TLS not set up)
    extra: Mapping[str, Any] = field(default_factory=dict)  # the IdP's service record extra

    def issuer(self, issuer_id: str) -> str:
        """An issuer's URL in the IdP's default form (https unless started for enableTestCommands)."""
        entry = (self.extra.get("issuers") or {}).get(issuer_id)
        if isinstance(entry, Mapping) and isinstance(entry.get("issuer"), str):
            return str(entry["issuer"])
        from ..idp.issuers import ISSUERS

        return ISSUERS[issuer_id].issuer_url(self.idp_https)


V = TypeVar("V")
IdpHandler = Callable[[Any, Any], Any]  # (IdentityProvider, Request) -> Response | None
WorkloadEnv = Callable[[EnvContext, "Principal"], dict[str, str]]
WorkloadToken = Callable[[EnvContext, "Principal", str | None], str]  # (ctx, principal, audience) -> JWT
SeedPrincipals = Callable[[], list[tuple[str, dict[str, Any]]]]  # (comment, principals.yaml entry)
TokenMethod = Callable[["StateDir", "Principal", str | None], "IssuedToken"]  # audience None: its default
ExplainIssuer = Callable[[str, Any, list[tuple[str, str]]], str | None]  # (iss, aud, configured)
ExtraIssuers = Callable[[str], dict[str, tuple[str, str]]]  # IdP base URL -> id -> (issuer, audience)


class RegistryView(Mapping[str, V]):
    """One of the registry's tables (``issuers``, ``token_files``) as a mapping that reads through
    on each use: a module can hold it as a constant while the cloud modules load on first use."""

    def __init__(self, table: Callable[[], Mapping[str, V]]) -> None:
        self._table = table

    def __getitem__(self, key: str) -> V:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


def _no_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    return {}


def _no_issuers(base_url: str) -> dict[str, tuple[str, str]]:
    return {}


# (the file, the principal it is written for, the catalog, the IdP's http base URL) -> variables
TokenFileExports = Callable[[Path, "Principal", list["Principal"], str], dict[str, str]]


@dataclass(frozen=True)
class PrincipalKind:
    """A kind of workload identity a platform hosts (principals.yaml ``kind``) and the catalog's
    rules for it."""

    issuer: str | None  # the issuer its principals must belong to (None: any)
    client_secret: bool = False  # it authenticates with a client secret, so the catalog must give one
    subject_is_name: bool = False  # its subject defaults to its name (else the catalog must give one)
    # A subject it cannot have → (what is wrong, the next step); None: the subject is fine.
    check_subject: Callable[[str], tuple[str, str] | None] | None = None


@dataclass(frozen=True)
class TokenFile:
    """A projected token file the IdP writes (``tokens/``, 0600, no trailing newline) for each
    principal whose ``token_files`` names it, refreshed like a kubelet's."""

    path: str  # under tokens/ (mirrors the pod path)
    audience: str | None = None  # None: the principal's audience
    # What plain ``wif env`` exports for the file once it exists (None: nothing).
    exports: TokenFileExports | None = None
    # Exported only when ``wif env --platform`` names this kind (one cloud's variables at a time).
    platform: bool = False


@dataclass(frozen=True)
class ConnectFile:
    """How ``connect()`` prepares a token-file environment in this process: the kit points
    ``variable`` at the principal's ``token_file`` (or at a token it writes), and unsets the
    variables pymongo would read first (``cleared``)."""

    token_file: str
    variable: str
    cleared: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetadataHost:
    """The endpoint a platform's hosts have at a fixed address (Azure IMDS, Google's metadata
    server): its SDKs (and pymongo's built-in environment) call it for the host's identity."""

    hosts: frozenset[str]  # the fixed hosts: cloudsim and the loopback proxy answer only these
    # The flow picture: the path (prefix) of its token request, its endpoint name and its label.
    path: str
    endpoint: str
    request: str
    identity_kind: str  # the principal kind it answers for (cloudsim, the IdP's metadata-default)
    identity_title: str  # that kind in words
    service: str  # the endpoint in words (connect's plan)
    # The platform's other host-identity endpoints, at an address the host's variables name rather
    # than a fixed one (App Service's IDENTITY_ENDPOINT): endpoint name → the IdP path that answers.
    others: Mapping[str, str] = field(default_factory=dict)

    def paths(self) -> dict[str, str]:
        """Every host-identity endpoint of the platform: endpoint name → the IdP path (its prefix)."""
        return {self.endpoint: self.path, **self.others}


@dataclass(frozen=True)
class ProductionIssuer:
    """A real issuer that kit issuers of the platform stand for (``wif export``)."""

    kind: str  # export's name for it: entra-v2, google, kubernetes, ...
    issuer: str  # the production issuer URL; placeholders allowed (<TENANT_ID>)
    title: str
    # The real issuer's host, recognised in a provider typed in, and what its path must end with.
    public_host: str = ""
    public_path_suffix: str = ""
    # A kit issuer stands for it by its path's shape (a regex: Entra's tenant paths) or by the IdP's
    # id for it (or its first path segment); neither: any kit issuer no other one claims.
    kit_path: str = ""
    kit_name: Callable[[str], bool] | None = None
    # An issuer that is a placeholder (``<CLUSTER_ISSUER_URL>``): what it means, where to find it.
    meaning: str = ""
    how_to_find: str = ""


# What ``wif export`` replaces of a platform's kit-only values: (value, its placeholder) — value
# None: a placeholder only; or (value, replacement text) for a value with no placeholder of its own.
ExportValues = Callable[[list["Principal"]], list[tuple[str | None, Any]]]


@dataclass(frozen=True)
class ClaimsDraft:
    """A token being minted, for a platform's ``shape_claims``: the common claims so far (``iss``,
    ``sub``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti``) to shape like the platform's, the
    principal's own claims (added after shaping, so they win; a shaper may take some out), and the
    request's options."""

    claims: dict[str, Any]
    extra: dict[str, Any]
    principal: Principal
    audience: str
    base_url: str  # the IdP's, in the form the token's issuer uses
    catalog: Callable[[], list[Principal]]
    gcp_full: bool = False  # Google's identity?format=full: the instance's facts
    acr: str | None = None  # Entra: the authentication context asked for


ShapeClaims = Callable[[ClaimsDraft], None]


@dataclass(frozen=True)
class ConnectPlan:
    """How a workload of the platform logs in with pymongo's built-in ``ENVIRONMENT`` (``connect()``
    and ``%wif_connect --env`` accept exactly these)."""

    environment: str  # pymongo's ENVIRONMENT
    token_source: str  # where pymongo reads the token on a real host, in words
    # Who ``connect(env=...)`` logs in as in the kit when no principal is named.
    principal: str | None = None
    # A token-file environment (pymongo reads a file); None: the token comes from ``Cloud.metadata``.
    file: ConnectFile | None = None
    # pymongo requires TOKEN_RESOURCE for this environment (and refuses it for the others).
    token_resource: bool = False
    # A real host picks a user-assigned identity by its client id, passed as the connection's username.
    username_is_client_id: bool = False
    # A token-file environment's reader (``tokens.token_file``): where it finds the file in an
    # environment, whether it sends the file as it is (whitespace would become part of the JWT),
    # and the method its tokens are labelled with.
    token_path: Callable[[Mapping[str, str]], Path] | None = None
    verbatim: bool = False
    file_method: str = "file"


@dataclass(frozen=True)
class Cloud:
    """Everything the kit knows about one workload platform (see the module docstring)."""

    id: str
    title: str
    issuers: tuple[Issuer, ...] = ()
    principal_kinds: Mapping[str, PrincipalKind] = field(default_factory=dict)
    metadata: MetadataHost | None = None
    connect: ConnectPlan | None = None
    # Asked for the paths under the first segments the platform declares (its issuers' routes, its
    # metadata and vendor-host paths: ``path_owners``) and for paths under no platform's segment
    # (Entra's tenant words, the root), never for another platform's.
    idp_handler: IdpHandler | None = None
    # Shapes a token of its issuers like the platform's (None: the common claims and the principal's).
    shape_claims: ShapeClaims | None = None
    workload_env: WorkloadEnv = _no_env
    # The claim a MongoDB server maps to roles (mongod.conf ``authorizationClaim``); None: the
    # platform's tokens carry no groups, so the server looks up $external users
    # (``useAuthorizationClaim: false``).
    authorization_claim: str | None = "groups"
    # Group name → the value its tokens' groups claim carries for it (Entra: the group's object id),
    # and those words for a note (``%wif_authorize --group NAME`` maps the name to the value).
    group_ids: Mapping[str, str] = field(default_factory=dict)
    group_ids_words: str = ""
    # How a workload of the platform gets its token from what its host has (``workload_env``), for
    # platforms pymongo has no built-in environment for (``tokens.obtain`` uses it by default).
    workload_token: WorkloadToken | None = None
    # ``tokens.obtain``'s ``via`` methods this platform brings: name → (state, principal, audience).
    token_methods: Mapping[str, TokenMethod] = field(default_factory=dict)
    # principal kind → the method of ``token_methods`` its workload uses by default (a kind not
    # listed: client credentials at the token endpoint).
    default_token_methods: Mapping[str, str] = field(default_factory=dict)
    # The projected token files this platform's workloads can have (principals' ``token_files``).
    token_files: Mapping[str, TokenFile] = field(default_factory=dict)
    # Principals the seeded catalog gets for this platform: (comment, principals.yaml entry) pairs.
    seed_principals: SeedPrincipals | None = None
    # Principals added to the seed later: listed after every platform's ``seed_principals``.
    seed_principals_later: SeedPrincipals | None = None
    extra_issuers: ExtraIssuers = _no_issuers
    # ``wif export``: the production issuers its kit issuers stand for, and its kit-only values.
    production_issuers: tuple[ProductionIssuer, ...] = ()
    export_values: ExportValues | None = None
    # Plain words for a token of the platform that a configured (issuer, audience) refuses because
    # of a mistake typical of the platform (Entra: v1/v2, the trailing slash); None: not that.
    explain_issuer: ExplainIssuer | None = None
    # Vendor host → {path an SDK calls there: the IdP path that answers it}. A workload of this
    # platform gets HTTPS_PROXY to the IdP's vendor-host proxy, which answers only these.
    vendor_hosts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def issuer_ids(self) -> tuple[str, ...]:
        return tuple(issuer.id for issuer in self.issuers)


_MODULES = ("kit", "azure", "gcp", "k8s", "github")
# Extra platforms outside this package: importable module names, comma-separated, each with a
# ``CLOUD``; listed after the built-in ones. An environment variable, so the IdP and every other
# kit process started from here load the same platforms.
EXTRA_CLOUDS_VARIABLE = "WIF_EXTRA_CLOUDS"
# (the variable's value it was loaded for, the platforms, their issuers): the IdP asks on every
# request, so the registry is rebuilt only when the variable changes.
_loaded: tuple[str, dict[str, Cloud], dict[str, Issuer]] | None = None


def _registry() -> tuple[dict[str, Cloud], dict[str, Issuer]]:
    global _loaded
    extra = os.environ.get(EXTRA_CLOUDS_VARIABLE, "")
    if _loaded is None or _loaded[0] != extra:
        names = (
            *(f"{__name__}.{name}" for name in _MODULES),
            *(n.strip() for n in extra.split(",") if n.strip()),
        )
        found: dict[str, Cloud] = {}
        for name in names:
            cloud: Cloud = importlib.import_module(name).CLOUD
            found[cloud.id] = cloud
        _loaded = (extra, found, {i.id: i for c in found.values() for i in c.issuers})
    return _loaded[1], _loaded[2]


def _load() -> dict[str, Cloud]:
    return _registry()[0]


def issuers() -> dict[str, Issuer]:
    """Every platform's issuers by id, in registry order (``idp.issuers.ISSUERS`` reads this)."""
    return _registry()[1]


def principal_kinds() -> dict[str, PrincipalKind]:
    """Every principal kind of every platform, in registry order."""
    return {kind: issuer for c in _load().values() for kind, issuer in c.principal_kinds.items()}


def token_files() -> dict[str, TokenFile]:
    """Every projected token file a principal can list, by kind, in registry order."""
    return {kind: f for c in _load().values() for kind, f in c.token_files.items()}


def token_methods() -> dict[str, TokenMethod]:
    """Every platform's ``tokens.obtain`` methods by name, in registry order."""
    return {name: m for c in _load().values() for name, m in c.token_methods.items()}


def clouds() -> list[Cloud]:
    """Every registered platform, in registry order."""
    return list(_load().values())


def get(cloud_id: str) -> Cloud:
    found = _load().get(cloud_id)
    if found is None:
        raise ConfigError(f"no cloud named {cloud_id!r}", hint=f"use one of: {', '.join(_load())}")
    return found


def connect_environments() -> dict[str, Cloud]:
    """pymongo ``ENVIRONMENT`` → the platform a workload using it runs on, in registry order
    (``wif connect --env`` / ``%wif_connect --env`` accept exactly these)."""
    return {c.connect.environment: c for c in _load().values() if c.connect is not None}


def for_issuer(issuer_id: str) -> Cloud | None:
    """The platform that owns a kit issuer id (``azure`` and Entra's v1 ``azure-v1`` → Azure), or None."""
    for cloud in _load().values():
        # The ids of a platform's extra issuers do not depend on the base URL they are built for.
        if issuer_id in cloud.issuer_ids or issuer_id in cloud.extra_issuers(""):
            return cloud
    return None


def for_principal(principal: Principal) -> Cloud | None:
    """The platform a principal's workload runs on: by its kind first, then by its issuer."""
    for cloud in _load().values():
        if principal.kind in cloud.principal_kinds:
            return cloud
    return for_issuer(principal.issuer_id)


def env_context(state: StateDir) -> EnvContext:
    """Where the running IdP is (both forms of its one port) and the CA bundle that trusts it."""
    from .. import tls
    from ..idp.service import require_idp

    record = require_idp(
        state,
        what=f"the mock IdP is not running for {state.path}, so a workload has no endpoints to call",
        hint="start it with `wif up` (or `wif idp start`), then ask again",
    )
    http = str(record.extra.get("base_url") or f"http://localhost:{record.port}")
    https = str(record.extra.get("https_base_url") or f"https://localhost:{record.port}")
    return EnvContext(
        state=state, idp_https=https, idp_http=http, ca_bundle=tls.ca_bundle(state), extra=record.extra
    )


def common_env(ctx: EnvContext) -> dict[str, str]:
    """What every workload's environment gets: the kit state and the CA bundle variables.

    ``REQUESTS_CA_BUNDLE`` (requests, so azure-core and google-auth's requests transport),
    ``SSL_CERT_FILE`` (OpenSSL's default verify file: urllib, httpx, aiohttp, Go) and
    ``NODE_EXTRA_CA_CERTS`` (added to Node's built-in roots) and ``CURL_CA_BUNDLE`` (the curl
    command, which Debian's build reads instead of ``SSL_CERT_FILE``) all name the bundle of the
    roots trusted before + the kit CA (``tls.public_roots_pem``), so nothing that was trusted stops
    being trusted. No variable turns verification off.
    """
    env = {"WIF_STATE_DIR": str(ctx.state.path)}
    if ctx.ca_bundle is not None:
        for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE"):
            env[name] = str(ctx.ca_bundle)
    return env


def trust_kit_in_this_process(state: StateDir) -> dict[str, str]:
    """Make this process (a notebook kernel) trust the kit CA as ``eval "$(wif env)"`` makes a shell
    trust it: the CA bundle variables of ``common_env`` go into ``os.environ``, so unmodified code
    (``requests``, ``urllib``, azure-identity, google-auth) reaches the kit's https IdP.

    The kit bundle starts with the roots the environment named when it was written (a company CA
    bundle in ``SSL_CERT_FILE`` stays trusted). ``forget_kit_trust`` puts the previous values back
    (``%wif_reset`` deletes the bundle). Returns what was set.
    """
    applied = {k: v for k, v in common_env(env_context(state)).items() if k != "WIF_STATE_DIR"}
    _kit_trust.update(applied)
    return applied


def forget_kit_trust() -> None:
    """Undo ``trust_kit_in_this_process``: the variables get the values they had before."""
    _kit_trust.restore()


_kit_trust = EnvChanges()


def workload_exports(state: StateDir, principal_name: str) -> dict[str, str]:
    """``wif env --principal NAME``: the common part, then what the principal's platform declares."""
    from ..idp.principals import find

    principal = find(state, principal_name)
    ctx = env_context(state)
    env = common_env(ctx)
    cloud = for_principal(principal)
    if cloud is not None:
        env.update(cloud.workload_env(ctx, principal))
        if cloud.vendor_hosts:
            env.update(vendor_proxy_env(ctx))
    return env


def production_issuers() -> list[ProductionIssuer]:
    """Every platform's production issuers, in registry order (``wif export``)."""
    return [p for c in _load().values() for p in c.production_issuers]


def metadata_identities() -> dict[str, MetadataHost]:
    """The metadata endpoints that answer for a host's identity, by platform id (azure, gcp)."""
    return {c.id: c.metadata for c in _load().values() if c.metadata is not None}


def issuer_mixup_words(claims: Mapping[str, Any], providers: Sequence[Any]) -> str:
    """For the explainers (`wif claims`, the doctor): the rule book's words for an issuer that differs
    from a configured one only by a trailing slash (``oidc.issuer_slash_words``), then what a
    platform says about its own issuers (``explain_issuer``), as sentences to append (with a
    leading space), or ''."""
    from ..oidc import issuer_slash_words

    iss = claims.get("iss")
    if not isinstance(iss, str):
        return ""
    words = [issuer_slash_words(iss, [p.issuer for p in providers])]
    configured = [(p.issuer, p.audience) for p in providers]
    for cloud in _load().values():
        said = cloud.explain_issuer(iss, claims.get("aud"), configured) if cloud.explain_issuer else None
        if said:
            words.append(said)
            break
    return "".join(f" {w}" for w in words if w)


def vendor_proxy_env(ctx: EnvContext) -> dict[str, str]:
    """``HTTPS_PROXY`` to the IdP's vendor-host proxy, for a workload whose SDKs call a vendor host
    at a fixed URL (``Cloud.vendor_hosts``), and ``NO_PROXY`` for everything the workload reaches
    directly: the IdP itself (``localhost``) and the metadata hosts. Both spellings, as programs
    differ in which one they read first (requests, httpx and urllib read either).

    Only https goes to the proxy (no ``HTTP_PROXY``): metadata endpoints stay plain http and
    direct, as on a real host. The proxy refuses every host it does not answer for, so a program
    run with these variables that calls another site fails with the proxy's 403 instead of
    reaching it (see ``idp/vendorproxy.py``). Empty when the IdP runs no proxy.
    """
    proxy = ctx.extra.get("vendor_proxy")
    if not isinstance(proxy, str) or not proxy:
        return {}
    direct = ",".join(("localhost", "127.0.0.1", "::1", *sorted(metadata_hosts())))
    return {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": direct, "no_proxy": direct}


def path_owners() -> dict[str, list[Cloud]]:
    """First path segment of an IdP path → the platforms that declare a path under it, in registry
    order: their issuers' routes, their host-identity endpoints (``MetadataHost.paths``) and the
    IdP paths their vendor hosts map to. The IdP asks only these platforms' handlers for such a
    path (and the issuers routed there), so a request runs one lookup, not every handler."""
    owners: dict[str, list[Cloud]] = {}
    for cloud in _load().values():
        paths = [issuer.route_base for issuer in cloud.issuers]
        paths += cloud.metadata.paths().values() if cloud.metadata is not None else ()
        paths += [idp_path for answers in cloud.vendor_hosts.values() for idp_path in answers.values()]
        for segment in dict.fromkeys(first_segment(path) for path in paths):
            owners.setdefault(segment, []).append(cloud)
    return owners


def first_segment(path: str) -> str:
    """The first segment of a URL path (``/kit/token`` → ``kit``; ``/`` → ``''``)."""
    return path.lstrip("/").split("/", 1)[0]


def metadata_hosts() -> frozenset[str]:
    """Every metadata host any platform's SDK calls at a fixed address (cloudsim answers only these)."""
    hosts: set[str] = set()
    for cloud in _load().values():
        if cloud.metadata is not None:
            hosts |= cloud.metadata.hosts
    return frozenset(hosts)


def vendor_hosts() -> dict[str, Mapping[str, str]]:
    """Every vendor host any platform's SDK calls at a fixed URL → {its path: the IdP path}."""
    hosts: dict[str, Mapping[str, str]] = {}
    for cloud in _load().values():
        hosts.update(cloud.vendor_hosts)
    return hosts
