"""The MONGODB-OIDC SASL mechanism on the server side (reference §3.1–§3.6, §5, §8, §11).

Step 1 with ``{jwt}`` is the one-step (machine) flow: pick the provider by the token's ``iss`` and
``aud``, validate with the rule book, done. Step 1 with ``{n?}`` is the human flow: pick the provider
by the hint, answer IdpInfo (``issuer``; ``clientId`` only for providers with
``supportsHumanFlows``; ``requestScopes`` if configured — never any other field, pymongo rejects
them), and step 2 must bring a token of that provider whose principal equals the hint.
Every failure is an ``AuthFailure`` carrying the rule book's message, which the server logs.
"""

from __future__ import annotations

from typing import Any

from bson.errors import BSONError

from ..oidc import (
    ProviderConfig,
    RuleFailure,
    check_principal_matches_hint,
    check_token_for_hinted_provider,
    select_provider_for_hint,
    select_provider_for_token,
    validate_token,
)
from . import wire
from .auth_base import AuthFailure, StepResult
from .registry import AuthenticatedUser

MECHANISM = "MONGODB-OIDC"
EXTERNAL = "$external"


class OidcConversation:
    """One MONGODB-OIDC conversation on one connection."""

    mechanism = MECHANISM

    def __init__(self, server: Any, conn: Any, db: str, options: dict[str, Any]) -> None:
        self.server = server
        self.conn = conn
        self.db = db
        self.steps = 0
        self.speculative = False
        self.provider: ProviderConfig | None = None
        self.hint: str | None = None
        self.principal = ""

    def step(self, payload: bytes) -> StepResult:
        self.steps += 1
        try:
            return self._step(payload)
        except RuleFailure as failure:
            raise AuthFailure(failure.message, principal=self.principal) from None

    def _step(self, payload: bytes) -> StepResult:
        if self.db != EXTERNAL:  # sasl.py refuses this before a conversation exists
            raise AuthFailure(
                f"BadValue: {MECHANISM} authentication must use the $external database, not '{self.db}'"
            )
        doc = _decode(payload)
        if self.steps == 1:
            if "jwt" in doc:
                return self._authenticate(_jwt(doc), None)
            hint = doc.get("n")
            if hint is not None and not isinstance(hint, str):
                raise AuthFailure("TypeMismatch: BSON field 'OIDCMechanismClientStep1.n' is the wrong type")
            self.hint = hint
            self.principal = hint or ""
            self.provider = select_provider_for_hint(self.server.config.oidc_providers, hint)
            info: dict[str, Any] = {"issuer": self.provider.issuer}
            if self.provider.supports_human_flows and self.provider.client_id:
                info["clientId"] = self.provider.client_id
            if self.provider.request_scopes:
                info["requestScopes"] = list(self.provider.request_scopes)
            return StepResult(payload=wire.encode_document(info), done=False, principal=self.principal)
        if self.steps == 2 and self.provider is not None:
            return self._authenticate(_jwt(doc), self.provider)
        raise AuthFailure(f"ProtocolError: Unexpected step {self.steps} of the {MECHANISM} conversation")

    def _authenticate(self, token: str, provider: ProviderConfig | None) -> StepResult:
        providers = self.server.config.oidc_providers
        if provider is None:
            provider = select_provider_for_token(providers, token)
        else:
            check_token_for_hinted_provider(provider, token, self.hint)
        keys = self.server.key_caches[provider.issuer]
        validated = validate_token(token, provider, keys)
        self.principal = validated.user
        check_principal_matches_hint(validated.principal, self.hint)
        expires_at = validated.expires_at.timestamp()
        if provider.use_authorization_claim:
            roles = [(role, "admin") for role in validated.roles]
        else:
            # Internal authorization: the $external user document must exist; its roles are read
            # from the store on every check, so grants and revocations apply at once. The client
            # sees 18, as documented; a real server may answer UserNotFound (11) here (UNCONFIRMED).
            if self.server.authz.get_user(EXTERNAL, validated.user) is None:
                raise AuthFailure(
                    f'UserNotFound: Could not find user "{validated.user}" for db "{EXTERNAL}"',
                    principal=validated.user,
                )
            roles = []
        user = AuthenticatedUser(
            user=validated.user,
            db=EXTERNAL,
            mechanism=MECHANISM,
            roles=roles,
            expires_at=expires_at,
            issuer=provider.issuer,
            kid=validated.kid,
            key_fingerprint=validated.key_fingerprint,
            claims=dict(validated.claims),
        )
        claims = {name: validated.claims[name] for name in provider.log_claims if name in validated.claims}
        return StepResult(
            payload=b"", done=True, user=user, principal=validated.user, extra_info={"claims": claims}
        )


def _decode(payload: bytes) -> dict[str, Any]:
    try:
        return wire.decode_document(payload)
    except (BSONError, ValueError, TypeError, IndexError) as exc:
        raise AuthFailure(f"FailedToParse: {MECHANISM} payload is not a BSON document: {exc}") from None


def _jwt(doc: dict[str, Any]) -> str:
    token = doc.get("jwt")
    if not isinstance(token, str):
        raise AuthFailure(
            "IDLFailedToParse: BSON field 'OIDCMechanismClientStep2.jwt' is missing but a required field"
        )
    return token
