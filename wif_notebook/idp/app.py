"""The mock IdP's endpoints as plain functions of a request: no sockets here (server.py has them).

Routes (``B`` = ``https://localhost:<port>``, or ``http://`` on the same port: see idp/issuers.py):

- ``<issuer>/.well-known/openid-configuration``, the issuer's JWKS and token endpoint (issuers.py)
- each cloud's own endpoints (Entra ID, Azure IMDS and App Service in ``entra.py``, the Google
  metadata server, the GitHub Actions token request, ...): ``Cloud.idp_handler`` of the cloud
  registry (``wif_notebook/clouds``); a path's first segment picks which (``clouds.path_owners``)
- ``/_wif/...``  admin endpoints (mint, rotate-keys, retire-key, principals, keys, token-files,
  metadata-default), loopback only

Every failure answers with the error format of the endpoint it imitates (RFC 6749 §5.2 JSON at the
token endpoint, IMDS JSON, each cloud's own format in its handler) and a description that says what
to do; nothing a client sends can stop the server.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from typing import Any

import jwt

from .. import clouds
from ..errors import ConfigError, WifError
from ..state import StateDir
from .faults import FAULTS
from .issuers import ISSUERS, Issuer, issuer_table
from .keys import SUPPORTED_ALGS, KeyStore
from .messages import (
    NO_STORE,
    NotBasic,
    OAuthError,
    Request,
    Response,
    basic_credentials,
    json_response,
    parse_form,
)
from .minting import Minter, check_lifetime
from .principals import Principal, find_in, load_catalog
from .tokenfiles import write_token_files

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_ID = "urn:ietf:params:oauth:token-type:id_token"
SUBJECT_TOKEN_TYPES = (TOKEN_TYPE_JWT, TOKEN_TYPE_ACCESS, TOKEN_TYPE_ID)
GRANT_TYPES = ("client_credentials", TOKEN_EXCHANGE)

# RFC 6749 appendix A.4: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


CATALOG_CHECK_SECONDS = 0.2


def _untrusted(issuer: Issuer, claims: dict[str, Any]) -> str:
    """Why a verified assertion or subject_token stands in for no principal (RFC 7523, RFC 8693)."""
    return (
        f"no principal of issuer {issuer.id!r} trusts tokens of {claims.get('iss')!r} for subject "
        f"{claims.get('sub')!r} with audience {claims.get('aud')!r}; add a federated_credentials entry "
        "with this issuer, subject and audience to the principal in principals.yaml"
    )


class IdentityProvider:
    """The IdP's state inside its process: keys, catalog (reread when the file changes), minter."""

    def __init__(self, state: StateDir, base_url: str) -> None:
        """``base_url`` is the default form (``https://localhost:<port>`` or ``http://…``); the
        other form of the same port is served too (idp/issuers.py)."""
        self.state = state
        self.base_url = base_url.rstrip("/")
        scheme, _, authority = self.base_url.partition("://")
        self.issuer_scheme = scheme
        self.https_base_url = f"https://{authority}"
        self.http_base_url = f"http://{authority}"
        self.keys = KeyStore(state)
        # The registry's issuers, read once: an IdP serves the platforms registered when its process
        # started (WIF_EXTRA_CLOUDS is read from its environment then), and a lookup through
        # ISSUERS would read the environment again on every request.
        self.issuers: dict[str, Issuer] = dict(ISSUERS)
        self.minters = {
            "https": Minter(self.keys, self.https_base_url, self.principals),
            "http": Minter(self.keys, self.http_base_url, self.principals),
        }
        self.minter = self.minters[scheme]  # the default form: metadata endpoints, token files, mint
        self._catalog_lock = threading.Lock()
        self._catalog: list[Principal] = []
        self._catalog_stamp: tuple[float, int] | None = None
        self._catalog_checked = 0.0
        self._metadata_default: dict[str, str] = {}  # cloud → principal name (runtime switch)
        # The registry's routes, read once. A path's first segment picks the platforms' handlers to
        # ask (those that declare it; under no platform's segment, every handler) and the issuers
        # routed there, longest route first. An issuer's route need not be its id (Entra's tenant). An
        # issuer its platform serves whole is routed nowhere: its handler answers, or nothing does.
        everyone = tuple(c.idp_handler for c in clouds.clouds() if c.idp_handler is not None)
        self._routes: dict[str, tuple[tuple[clouds.IdpHandler, ...], tuple[Issuer, ...]]] = {}
        for segment, owners in clouds.path_owners().items():
            routed = [
                i
                for i in self.issuers.values()
                if clouds.first_segment(i.route_base) == segment and not i.served_by_platform
            ]
            self._routes[segment] = (
                tuple(c.idp_handler for c in owners if c.idp_handler is not None),
                tuple(sorted(routed, key=lambda i: -len(i.route_base))),
            )
        self._unrouted: tuple[tuple[clouds.IdpHandler, ...], tuple[Issuer, ...]] = (everyone, ())
        # The host-identity endpoints, read once with the routes: the index lists what is served.
        self._metadata_hosts = clouds.metadata_identities()
        for issuer_id in self.issuers:
            self.keys.issuer(issuer_id)  # create or load every issuer's keys up front
        self.principals()

    # -- catalog ----------------------------------------------------------------------------------
    def principals(self) -> list[Principal]:
        """The catalog, reread when principals.yaml changed (a bad edit raises ConfigError)."""
        with self._catalog_lock:
            # Look at the file at most every CATALOG_CHECK_SECONDS: a stat per request would cost
            # more than the rest of a token request bar the signature.
            moment = time.monotonic()
            if self._catalog_stamp is not None and moment - self._catalog_checked < CATALOG_CHECK_SECONDS:
                return self._catalog
            self._catalog_checked = moment
            path = self.state.principals_file
            try:
                st = path.stat()
                stamp: tuple[float, int] | None = (st.st_mtime, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp is None or stamp != self._catalog_stamp:
                self._catalog = load_catalog(self.state)
                st = path.stat()
                self._catalog_stamp = (st.st_mtime, st.st_size)
            return self._catalog

    def issuer_urls(self) -> dict[str, str]:
        return {i: iss.issuer_url(self.base_url) for i, iss in self.issuers.items()}

    def base_for(self, req: Request) -> str:
        """The base an issuer endpoint answers with: the form the request arrived in."""
        return self.https_base_url if req.tls else self.http_base_url

    def minter_for(self, req: Request) -> Minter:
        """The minter whose ``iss`` is the form the request arrived in (issuer endpoints only)."""
        return self.minters["https" if req.tls else "http"]

    def is_own_issuer(self, url: Any) -> Issuer | None:
        """The issuer ``url`` names in either form, or None."""
        for issuer in self.issuers.values():
            if url in (issuer.issuer_url(self.https_base_url), issuer.issuer_url(self.http_base_url)):
                return issuer
        return None

    def service_extra(self) -> dict[str, Any]:
        """What the service record publishes (a contract, idp/service.py): both base URLs, the
        default issuer form, and per issuer its default-form URL, both forms and its audience; a
        cloud's extra issuers (Entra's v1 issuer ``azure-v1``) are listed the same way."""
        https_forms, http_forms = issuer_table(self.https_base_url), issuer_table(self.http_base_url)
        issuers = {
            i: {
                "issuer": issuer,
                "audience": audience,
                "https_issuer": https_forms[i][0],
                "http_issuer": http_forms[i][0],
            }
            for i, (issuer, audience) in issuer_table(self.base_url).items()
        }
        return {
            "base_url": self.http_base_url,
            "https_base_url": self.https_base_url,
            "issuer_scheme": self.issuer_scheme,
            "issuers": issuers,
        }

    def write_token_files(self) -> dict[str, str]:
        return {k: str(v) for k, v in write_token_files(self.state, self.minter, self.principals()).items()}

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/_wif/"):
            return self.admin(req)
        handlers, issuers = self._routes.get(clouds.first_segment(path), self._unrouted)
        for handler in handlers:
            answer: Response | None = handler(self, req)
            if answer is not None:
                return answer
        if path in ("", "/"):
            return self.index(req)
        return self.issuer_endpoint(req, issuers)

    def index(self, req: Request) -> Response:
        doc = {
            "service": "wif-notebook mock identity provider",
            **self.service_extra(),
            "discovery": {
                i: f"{iss.issuer_url(self.base_for(req))}/.well-known/openid-configuration"
                for i, iss in self.issuers.items()
            },
            # Each platform's host-identity endpoints, as the registry declares them; plain http, as
            # on a real host.
            "metadata": {
                cloud_id: {name: f"{self.http_base_url}{path}" for name, path in host.paths().items()}
                for cloud_id, host in self._metadata_hosts.items()
            },
        }
        return json_response(200, doc)

    def _not_found(self, req: Request) -> Response:
        return json_response(
            404,
            {
                "error": "not_found",
                "error_description": f"nothing is served at {req.path!r}; issuers: "
                + ", ".join(self.issuer_urls().values())
                + " (each has /.well-known/openid-configuration)",
            },
            error="not_found",
        )

    # -- issuers ----------------------------------------------------------------------------------
    @staticmethod
    def _issuer_for_path(path: str, issuers: tuple[Issuer, ...]) -> tuple[Issuer, str] | None:
        """The issuer whose route ``path`` is under (of those routed at its first segment) and the
        rest of the path, or None."""
        for issuer in issuers:
            if path.startswith(issuer.route_base + "/") or path == issuer.route_base:
                return issuer, path[len(issuer.route_base) :]
        return None

    def issuer_endpoint(self, req: Request, issuers: tuple[Issuer, ...]) -> Response:
        found = self._issuer_for_path(req.path, issuers)
        if found is None:
            return self._not_found(req)
        issuer, rest = found
        endpoint = issuer.routes().get(rest)
        if endpoint is None:
            resp = self._not_found(req)
            resp.log["issuer"] = issuer.id
            return resp
        if endpoint in ("discovery", "jwks"):
            if req.method != "GET":
                return json_response(
                    405,
                    {"error": "invalid_request", "error_description": f"use GET for the {endpoint} document"},
                    headers={"Allow": "GET"},
                    issuer=issuer.id,
                    error="invalid_request",
                )
            doc = (
                self.discovery(issuer, self.base_for(req))
                if endpoint == "discovery"
                else self.keys.issuer(issuer.id).jwks()
            )
            return json_response(200, doc, issuer=issuer.id)
        if req.method != "POST":
            return json_response(
                405,
                {
                    "error": "invalid_request",
                    "error_description": "the token endpoint takes POST with an "
                    "application/x-www-form-urlencoded body (RFC 6749 §3.2)",
                },
                headers={"Allow": "POST"},
                issuer=issuer.id,
                error="invalid_request",
            )
        log: dict[str, Any] = {"issuer": issuer.id}
        try:
            doc = self.token(issuer, req, log)
        except OAuthError as exc:
            log["error"] = exc.error
            return json_response(
                exc.status,
                {"error": exc.error, "error_description": exc.description},
                headers={**NO_STORE, **exc.headers},
                **log,
            )
        return json_response(200, doc, headers=NO_STORE, **log)

    def discovery(self, issuer: Issuer, base_url: str | None = None) -> dict[str, Any]:
        """An OpenID Provider Metadata document; every URL in one form (``base_url``, default the
        IdP's default form): https://localhost:<port>/... or http://localhost:<port>/..."""
        base = base_url or self.base_url
        url = issuer.issuer_url(base)
        return {
            "issuer": url,
            "jwks_uri": issuer.jwks_uri(base),
            "token_endpoint": issuer.token_endpoint(base),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "grant_types_supported": list(GRANT_TYPES),
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "groups"],
            "scopes_supported": [],
        }

    # -- token endpoint -------------------------------------------------------------------------
    def _form(self, req: Request) -> dict[str, str]:
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise OAuthError(
                "invalid_request",
                f"the body must be application/x-www-form-urlencoded (got {ctype or 'no Content-Type'}); "
                "send the parameters as a form, e.g. grant_type=client_credentials&scope=...",
            )
        try:
            text = req.body.decode("utf-8")
            pairs = parse_form(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise OAuthError(
                "invalid_request",
                f"the form body cannot be parsed ({exc}); send name=value pairs joined by '&', "
                "percent-encoded",
            ) from exc
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                # RFC 6749 §3.2: request parameters must not be included more than once.
                raise OAuthError(
                    "invalid_request", f"parameter {name!r} appears more than once; send it once"
                )
            form[name] = value
        return form

    def _basic_auth(self, req: Request) -> tuple[str, str] | None:
        try:
            return basic_credentials(req)
        except NotBasic as exc:
            raise OAuthError(
                "invalid_client",
                f"the token endpoint accepts only HTTP Basic client authentication, not {exc.scheme!r}; "
                "send Authorization: Basic base64(client_id:client_secret) or use client_secret_post",
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="wif-notebook"'},
            ) from exc
        except ValueError as exc:
            raise OAuthError("invalid_request", str(exc)) from exc

    def token(self, issuer: Issuer, req: Request, log: dict[str, Any]) -> dict[str, Any]:
        form = self._form(req)
        basic = self._basic_auth(req)
        grant = form.get("grant_type", "")
        log["grant"] = grant or None
        if not grant:
            raise OAuthError("invalid_request", f"grant_type is missing; use one of {', '.join(GRANT_TYPES)}")
        if grant not in GRANT_TYPES:
            raise OAuthError(
                "unsupported_grant_type",
                f"grant_type {grant!r} is not supported here; use one of {', '.join(GRANT_TYPES)}",
            )
        if basic and ("client_secret" in form or "client_assertion" in form):
            raise OAuthError(
                "invalid_request",
                "the client authenticated twice (Authorization header and form); use exactly one method",
            )
        if "client_secret" in form and "client_assertion" in form:
            raise OAuthError("invalid_request", "send either client_secret or client_assertion, not both")
        audience, scope = self._requested_audience(issuer, form)
        if grant == "client_credentials":
            principal = self._authenticate_client(issuer, form, basic, required=True)
            assert principal is not None
            issued_type = None
        else:
            principal = self._token_exchange_subject(issuer, form, basic)
            issued_type = TOKEN_TYPE_ACCESS
        log["principal"] = principal.name
        minted = self.minter_for(req).mint(
            principal, audience=audience, extra_claims={"scope": scope} if scope else None
        )
        lifetime = int(minted.claims["exp"]) - int(minted.claims["iat"])
        doc: dict[str, Any] = {
            "access_token": minted.token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scope:
            doc["scope"] = scope
        if issued_type:
            doc["issued_token_type"] = issued_type
        return doc

    def _requested_audience(self, issuer: Issuer, form: dict[str, str]) -> tuple[str | None, str | None]:
        """The audience named by ``scope`` ("<aud>/.default"), ``resource`` or ``audience``."""
        scope = form.get("scope", "")
        scopes = scope.split()
        for s in scopes:
            if not _SCOPE_TOKEN.match(s):
                raise OAuthError("invalid_scope", f"scope {s!r} contains characters a scope cannot have")
        defaults = [s.removesuffix("/.default") for s in scopes if s.endswith("/.default")]
        if len(defaults) > 1:
            raise OAuthError(
                "invalid_scope",
                f"the scopes name {len(defaults)} resources ({', '.join(defaults)}); a token has one "
                "audience: request one '<resource>/.default' scope per token",
            )
        if defaults and len(scopes) > 1:
            raise OAuthError(
                "invalid_scope",
                "a '<resource>/.default' scope cannot be combined with other scopes; "
                "send only the '/.default' scope",
            )
        named = [
            v for v in (defaults[0] if defaults else None, form.get("resource"), form.get("audience")) if v
        ]
        if len(set(named)) > 1:
            raise OAuthError(
                "invalid_request",
                f"scope, resource and audience name different audiences ({', '.join(named)}); "
                "name one audience",
            )
        plain_scope = scope if scopes and not defaults else None
        return (named[0] if named else None), plain_scope

    def _principals_at(self, issuer: Issuer) -> list[Principal]:
        return [p for p in self.principals() if p.issuer_id == issuer.id]

    def _authenticate_client(
        self, issuer: Issuer, form: dict[str, str], basic: tuple[str, str] | None, *, required: bool
    ) -> Principal | None:
        challenge = {"WWW-Authenticate": f'Basic realm="{issuer.issuer_url(self.base_url)}"'}
        if "client_assertion" in form or "client_assertion_type" in form:
            return self._authenticate_assertion(issuer, form)
        if basic is not None:
            client_id, secret = basic
            if form.get("client_id") not in (None, client_id):
                raise OAuthError(
                    "invalid_request",
                    "client_id in the form differs from the one in the Authorization header; send one",
                )
        elif "client_secret" in form:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
            if not client_id:
                raise OAuthError("invalid_request", "client_secret_post needs client_id in the form too")
        else:
            if not required:
                return None
            raise OAuthError(
                "invalid_client",
                "no client authentication: send client_id and client_secret (Basic header or form), "
                "or a client_assertion",
                status=401,
                headers=challenge,
            )
        principal = next((p for p in self._principals_at(issuer) if p.client_id == client_id), None)
        if principal is None:
            raise OAuthError(
                "invalid_client",
                f"unknown client {client_id!r} at issuer {issuer.id!r}; `wif idp principals` lists the "
                "clients of each issuer",
                status=401,
                headers=challenge if basic else {},
            )
        if not principal.client_secret:
            raise OAuthError(
                "invalid_client",
                f"client {client_id!r} ({principal.kind}) has no client secret; it gets tokens from its "
                "platform, not with a secret",
                status=401,
                headers=challenge if basic else {},
            )
        if not hmac.compare_digest(principal.client_secret.encode(), secret.encode()):
            raise OAuthError(
                "invalid_client",
                f"wrong client_secret for client {client_id!r}; use the client_secret of principal "
                f"{principal.name!r} in principals.yaml",
                status=401,
                headers=challenge if basic else {},
            )
        return principal

    def verify_jwt(self, token: str, what: str) -> tuple[dict[str, Any], Issuer]:
        """Verify a JWT issued by one of this IdP's issuers: its signature against that issuer's
        published keys, and its exp/nbf. Raises ValueError with a plain-words reason."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise ValueError(f"the {what} is not a JWT ({exc})") from exc
        iss = unverified.get("iss")
        issuer = self.is_own_issuer(iss)
        if issuer is None:
            raise ValueError(
                f"the {what} was issued by {iss!r}, which is not an issuer of this IdP "
                f"({', '.join(self.issuer_urls().values())})"
            )
        kid = header.get("kid")
        key = self.keys.issuer(issuer.id).find(kid) if isinstance(kid, str) else None
        if key is None:
            raise ValueError(f"the {what}'s kid {kid!r} is not published in {issuer.jwks_uri(self.base_url)}")
        if key.weak:
            raise ValueError(f"the {what} is signed by a 1024-bit RSA key, too weak to trust")
        if header.get("alg") != key.alg:
            raise ValueError(f"the {what} says alg {header.get('alg')!r} but key {kid} is {key.alg}")
        try:
            claims = jwt.decode(
                token,
                key.key.public_key(),
                algorithms=[key.alg],
                options={"verify_aud": False, "require": ["iss", "sub", "exp"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise ValueError(f"the {what} has expired; get a fresh one") from exc
        except jwt.PyJWTError as exc:
            raise ValueError(f"the {what} does not verify: {exc}") from exc
        return claims, issuer

    def _credential_matches(self, principal: Principal, claims: dict[str, Any]) -> bool:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        for cred in principal.federated_credentials:
            if cred.issuer in self.issuers:
                matches = self.is_own_issuer(claims.get("iss")) is self.issuers[cred.issuer]
            else:
                matches = cred.issuer == claims.get("iss")
            if matches and cred.subject == claims.get("sub") and cred.audience in auds:
                return True
        return False

    def _authenticate_assertion(self, issuer: Issuer, form: dict[str, str]) -> Principal:
        """RFC 7523 client authentication with a JWT from a trusted issuer (federated credential)."""
        kind = form.get("client_assertion_type")
        assertion = form.get("client_assertion")
        if kind != JWT_BEARER_ASSERTION or not assertion:
            raise OAuthError(
                "invalid_request",
                f"a client assertion needs client_assertion_type={JWT_BEARER_ASSERTION} and a "
                "client_assertion (the JWT)",
            )
        try:
            claims, _ = self.verify_jwt(assertion, "client_assertion")
        except ValueError as exc:
            raise OAuthError("invalid_client", str(exc), status=401) from exc
        candidates = self._principals_at(issuer)
        client_id = form.get("client_id")
        if client_id:
            candidates = [p for p in candidates if p.client_id == client_id]
            if not candidates:
                raise OAuthError(
                    "invalid_client",
                    f"unknown client {client_id!r} at issuer {issuer.id!r}; `wif idp principals` lists them",
                    status=401,
                )
        matching = [p for p in candidates if self._credential_matches(p, claims)]
        if not matching:
            raise OAuthError("invalid_client", _untrusted(issuer, claims), status=401)
        if len(matching) > 1:
            raise OAuthError(
                "invalid_request",
                f"several principals trust this assertion ({', '.join(p.name for p in matching)}); "
                "send client_id to choose one",
            )
        return matching[0]

    def _token_exchange_subject(
        self, issuer: Issuer, form: dict[str, str], basic: tuple[str, str] | None
    ) -> Principal:
        """RFC 8693: the principal that trusts the (verified) subject_token."""
        subject_token = form.get("subject_token")
        subject_type = form.get("subject_token_type")
        if not subject_token or not subject_type:
            raise OAuthError(
                "invalid_request",
                f"token exchange needs subject_token and subject_token_type (e.g. {TOKEN_TYPE_JWT})",
            )
        if subject_type not in SUBJECT_TOKEN_TYPES:
            raise OAuthError(
                "invalid_request",
                f"subject_token_type {subject_type!r} is not supported; use one of "
                + ", ".join(SUBJECT_TOKEN_TYPES),
            )
        requested = form.get("requested_token_type")
        if requested and requested not in (TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT):
            raise OAuthError(
                "invalid_request",
                f"requested_token_type {requested!r} cannot be issued; ask for {TOKEN_TYPE_ACCESS}",
            )
        client = self._authenticate_client(issuer, form, basic, required=False)
        try:
            claims, _ = self.verify_jwt(subject_token, "subject_token")
        except ValueError as exc:
            raise OAuthError("invalid_grant", str(exc)) from exc
        candidates = [client] if client is not None else self._principals_at(issuer)
        matching = [p for p in candidates if self._credential_matches(p, claims)]
        if not matching:
            raise OAuthError("invalid_grant", _untrusted(issuer, claims))
        if len(matching) > 1:
            raise OAuthError(
                "invalid_request",
                f"several principals trust this subject_token ({', '.join(p.name for p in matching)}); "
                "authenticate as one of them (client_id) to choose",
            )
        return matching[0]

    def metadata_default_names(self) -> dict[str, str]:
        """cloud → principal name chosen at runtime (``/_wif/metadata-default``)."""
        return dict(self._metadata_default)

    def metadata_default_principal(self, cloud: str, candidates: list[Principal]) -> Principal | None:
        """The identity a metadata server answers for when a request names none: the one switched
        to at runtime, else the system-assigned one, else ``default: true``, else the first."""
        chosen = self._metadata_default.get(cloud)
        if chosen:
            found = next((p for p in candidates if p.name == chosen), None)
            if found is not None:
                return found
        for preferred in (lambda p: p.system_assigned, lambda p: p.default):
            found = next((p for p in candidates if preferred(p)), None)
            if found is not None:
                return found
        return candidates[0] if candidates else None

    # -- admin ----------------------------------------------------------------------------------
    def admin(self, req: Request) -> Response:
        if not req.loopback:
            return json_response(
                403,
                {"error": "forbidden", "error_description": "admin endpoints answer loopback clients only"},
                error="forbidden",
            )
        name = req.path[len("/_wif/") :]
        routes = {
            "mint": ("POST", self.admin_mint),
            "rotate-keys": ("POST", self.admin_rotate),
            "retire-key": ("POST", self.admin_retire),
            "token-files": ("POST", self.admin_token_files),
            "metadata-default": ("POST", self.admin_metadata_default),
            "principals": ("GET", self.admin_principals),
            "keys": ("GET", self.admin_keys),
            "faults": ("GET", self.admin_faults),
        }
        route = routes.get(name)
        if route is None:
            return json_response(
                404,
                {
                    "error": "not_found",
                    "error_description": f"no admin endpoint {name!r}; known: {', '.join(routes)}",
                },
                error="not_found",
            )
        method, func = route
        if req.method != method:
            return json_response(
                405,
                {"error": "invalid_request", "error_description": f"use {method} for /_wif/{name}"},
                headers={"Allow": method},
                error="invalid_request",
            )
        # A broken catalog is the server's problem (500 from the caller), not a bad request.
        self.principals()
        body: dict[str, Any] = {}
        if method == "POST" and req.body.strip():
            try:
                parsed = json.loads(req.body)
            except (ValueError, UnicodeDecodeError) as exc:
                return json_response(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": f"the body is not JSON ({exc}); send a JSON object",
                    },
                    error="invalid_request",
                )
            if not isinstance(parsed, dict):
                return json_response(
                    400,
                    {"error": "invalid_request", "error_description": "the body must be a JSON object"},
                    error="invalid_request",
                )
            body = parsed
        try:
            return func(body)
        except WifError as exc:
            status = 404 if isinstance(exc, ConfigError) and "no principal named" in exc.what else 400
            return json_response(
                status, {"error": "invalid_request", "error_description": str(exc)}, error="invalid_request"
            )

    @staticmethod
    def _opt_str(body: dict[str, Any], key: str) -> str | None:
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{key!r} must be a string, got {value!r}", hint=f'send "{key}": "..."')
        return value

    def _issuer_ids(self, body: dict[str, Any]) -> list[str]:
        issuer = self._opt_str(body, "issuer")
        if issuer is None:
            return list(self.issuers)
        if issuer not in self.issuers:
            raise ConfigError(f"no issuer {issuer!r}", hint=f"use one of {', '.join(self.issuers)}")
        return [issuer]

    def admin_mint(self, body: dict[str, Any]) -> Response:
        name = self._opt_str(body, "principal")
        if not name:
            raise ConfigError("'principal' is missing", hint='send {"principal": "billing-api"}')
        principal = find_in(self.principals(), name, "principals.yaml")
        lifetime = check_lifetime(body.get("lifetime"))
        fmt = self._opt_str(body, "format")
        scheme = self._opt_str(body, "issuer_scheme") or self.issuer_scheme
        if scheme not in self.minters:
            raise ConfigError(f"no issuer form {scheme!r}", hint=f"use one of {', '.join(self.minters)}")
        minted = self.minters[scheme].mint(
            principal,
            audience=self._opt_str(body, "audience"),
            lifetime=lifetime,
            fault=self._opt_str(body, "fault"),
            gcp_full=fmt == "full",
        )
        return json_response(
            200,
            minted.to_json(),
            headers=NO_STORE,
            issuer=principal.issuer_id,
            grant="mint",
            principal=principal.name,
            fault=minted.fault.name if minted.fault else None,
        )

    def admin_rotate(self, body: dict[str, Any]) -> Response:
        alg = self._opt_str(body, "alg") or "RS256"
        rotated = {}
        for issuer_id in self._issuer_ids(body):
            keys = self.keys.issuer(issuer_id)
            new = keys.rotate(alg)
            rotated[issuer_id] = {"kid": new.kid, "alg": new.alg, "published": keys.published_kids()}
        # The kubelet would hand out tokens of the new key only at its next refresh; the kit
        # rewrites its token files now, so that the old key can be retired right away without
        # leaving a token file that no published key verifies.
        files = self.write_token_files()
        return json_response(200, {"rotated": rotated, "token_files": files}, grant="rotate-keys")

    def admin_retire(self, body: dict[str, Any]) -> Response:
        retired = self.keys.retire(self._issuer_ids(body), self._opt_str(body, "kid"))
        # No token file may stay signed by a key that is no longer published.
        files = self.write_token_files()
        return json_response(200, {"retired": retired, "token_files": files}, grant="retire-key")

    def admin_token_files(self, body: dict[str, Any]) -> Response:
        return json_response(200, {"written": self.write_token_files()}, grant="token-files")

    def admin_metadata_default(self, body: dict[str, Any]) -> Response:
        cloud = self._opt_str(body, "cloud")
        name = self._opt_str(body, "principal")
        hosts = self._metadata_hosts
        if cloud not in hosts or not name:
            choices = "|".join(f'"{c}"' for c in hosts)
            kinds = " or ".join(
                f"a {host.identity_kind.replace('-', ' ')} ({i})" for i, host in hosts.items()
            )
            raise ConfigError(
                f'send {{"cloud": {choices}, "principal": NAME}}', hint=f"the principal must be {kinds}"
            )
        kind = hosts[cloud].identity_kind
        principal = find_in(self.principals(), name, "principals.yaml")
        if principal.kind != kind:
            raise ConfigError(
                f"{name!r} is a {principal.kind}, not a {kind}", hint=f"pick a principal of kind {kind}"
            )
        self._metadata_default[cloud] = name
        return json_response(200, {"cloud": cloud, "principal": name}, grant="metadata-default")

    def admin_principals(self, body: dict[str, Any]) -> Response:
        return json_response(200, {"principals": [p.public() for p in self.principals()]})

    def admin_keys(self, body: dict[str, Any]) -> Response:
        doc = {
            i: {"active": self.keys.issuer(i).active.kid, "published": self.keys.issuer(i).published_kids()}
            for i in self.issuers
        }
        return json_response(200, {"issuers": doc})

    def admin_faults(self, body: dict[str, Any]) -> Response:
        return json_response(200, {"faults": [f.to_json() for f in FAULTS.values()]})
