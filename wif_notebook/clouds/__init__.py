"""The cloud registry: one module per workload platform, and the one table the rest of the kit reads.

Each platform the kit emulates (the kit's own test issuer, Microsoft Entra ID / Azure, Google Cloud,
Kubernetes, GitHub Actions) has exactly one module here that declares everything about it:

- which of the IdP's issuers it owns (``idp/issuers.py`` ids) and the principal kinds it hosts;
- the IdP endpoints that imitate the platform (``idp_handler``: a function of the IdP and a request
  that answers the platform's paths and returns ``None`` for any other path);
- the hosts its SDKs call at fixed addresses (``metadata_hosts``: IMDS, the Google metadata server),
  which cloudsim answers for the kit;
- the vendor's public https hosts its SDKs call at fixed URLs (``vendor_hosts``: MSAL's instance
  discovery at ``login.microsoftonline.com``, Google's certificates at ``www.googleapis.com``), each
  with the paths the kit answers there and the IdP path that answers each; the IdP's vendor-host
  proxy (``idp/vendorproxy.py``, ``HTTPS_PROXY`` in ``wif env --principal``) serves exactly these;
- the pymongo ``ENVIRONMENT`` a workload on it uses (``connect_environment``) and where pymongo
  reads its token on a real host (``connect_token_source``);
- the environment variables a workload of a given principal has on its real host
  (``workload_env``), which ``wif env --principal NAME`` prints after the common part
  (``common_env``: the CA bundle variables, so the SDKs trust the kit CA and nothing less);
- how such a workload gets its token when pymongo has no built-in way (``workload_token``), and
  which of ``tokens.obtain``'s methods each principal kind uses by default (``token_methods``);
- the claim a MongoDB server maps to roles for its tokens (``authorization_claim``, mongod.conf);
- the principals a fresh catalog gets for it (``seed_principals``, principals.yaml; those added to
  the kit later, ``seed_principals_later``, come after every platform's first ones, so a fresh
  catalog keeps the order it has always had);
- issuers it publishes besides its ``issuer_ids`` (``extra_issuers``: Entra's v1 issuer shares the
  ``azure`` keys), which the IdP's service record lists and mongod.conf trusts by default.

Adding a platform is adding one module and one line in ``_MODULES`` below; nothing else changes.
The modules import nothing from ``idp.app`` at import time, so the IdP can read this registry
without an import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..idp.principals import Principal
    from ..state import StateDir


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


IdpHandler = Callable[[Any, Any], Any]  # (IdentityProvider, Request) -> Response | None
WorkloadEnv = Callable[[EnvContext, "Principal"], dict[str, str]]
WorkloadToken = Callable[[EnvContext, "Principal", str | None], str]  # (ctx, principal, audience) -> JWT
SeedPrincipals = Callable[[], list[tuple[str, dict[str, Any]]]]  # (comment, principals.yaml entry)
ExtraIssuers = Callable[[str], dict[str, tuple[str, str]]]  # IdP base URL -> id -> (issuer, audience)


def _no_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    return {}


def _no_issuers(base_url: str) -> dict[str, tuple[str, str]]:
    return {}


@dataclass(frozen=True)
class Cloud:
    """Everything the kit knows about one workload platform (see the module docstring)."""

    id: str
    title: str
    issuer_ids: tuple[str, ...] = ()
    principal_kinds: tuple[str, ...] = ()
    metadata_hosts: frozenset[str] = frozenset()
    connect_environment: str | None = None
    # Where pymongo's built-in ``connect_environment`` reads a token on a real host (connect's plan).
    connect_token_source: str = ""
    idp_handler: IdpHandler | None = None
    workload_env: WorkloadEnv = _no_env
    # The claim a MongoDB server maps to roles (mongod.conf ``authorizationClaim``); None: the
    # platform's tokens carry no groups, so the server looks up $external users
    # (``useAuthorizationClaim: false``).
    authorization_claim: str | None = "groups"
    # How a workload of the platform gets its token from what its host has (``workload_env``), for
    # platforms pymongo has no built-in environment for (``tokens.obtain`` uses it by default).
    workload_token: WorkloadToken | None = None
    # principal kind → the ``tokens.obtain`` method (``tokens.METHODS``) its workload uses by default
    # (a kind not listed: client credentials at the token endpoint).
    token_methods: Mapping[str, str] = field(default_factory=dict)
    # Principals the seeded catalog gets for this platform: (comment, principals.yaml entry) pairs.
    seed_principals: SeedPrincipals | None = None
    # Principals added to the seed later: listed after every platform's ``seed_principals``.
    seed_principals_later: SeedPrincipals | None = None
    extra_issuers: ExtraIssuers = _no_issuers
    # Vendor host → {path an SDK calls there: the IdP path that answers it}. A workload of this
    # platform gets HTTPS_PROXY to the IdP's vendor-host proxy, which answers only these.
    vendor_hosts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


_MODULES = ("kit", "azure", "gcp", "k8s", "github")
_CLOUDS: dict[str, Cloud] = {}


def _load() -> dict[str, Cloud]:
    if not _CLOUDS:
        for name in _MODULES:
            module = importlib.import_module(f"{__name__}.{name}")
            cloud: Cloud = module.CLOUD
            _CLOUDS[cloud.id] = cloud
    return _CLOUDS


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
    return {c.connect_environment: c for c in _load().values() if c.connect_environment is not None}


def for_issuer(issuer_id: str) -> Cloud | None:
    """The platform that owns a kit issuer id (``azure`` → Azure), or None."""
    for cloud in _load().values():
        if issuer_id in cloud.issuer_ids:
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
    import os

    applied = {k: v for k, v in common_env(env_context(state)).items() if k != "WIF_STATE_DIR"}
    for name in applied:
        _before_kit_trust.setdefault(name, os.environ.get(name))
    os.environ.update(applied)
    return applied


def forget_kit_trust() -> None:
    """Undo ``trust_kit_in_this_process``: the variables get the values they had before."""
    import os

    for name, value in _before_kit_trust.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _before_kit_trust.clear()


_before_kit_trust: dict[str, str | None] = {}


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


def metadata_hosts() -> frozenset[str]:
    """Every metadata host any platform's SDK calls at a fixed address (cloudsim answers only these)."""
    hosts: set[str] = set()
    for cloud in _load().values():
        hosts |= cloud.metadata_hosts
    return frozenset(hosts)


def vendor_hosts() -> dict[str, Mapping[str, str]]:
    """Every vendor host any platform's SDK calls at a fixed URL → {its path: the IdP path}."""
    hosts: dict[str, Mapping[str, str]] = {}
    for cloud in _load().values():
        hosts.update(cloud.vendor_hosts)
    return hosts
