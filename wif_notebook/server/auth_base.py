"""What every SASL mechanism conversation returns or raises (shared by ``sasl`` and the mechanisms)."""

from __future__ import annotations

import dataclasses

from .registry import AuthenticatedUser, Document


class AuthFailure(Exception):
    """A mechanism step failed; ``reason`` is what mongod logs ("BadValue: Token is expired").

    The client only ever sees 18 "Authentication failed." (reference §3.5).
    """

    def __init__(self, reason: str, *, principal: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.principal = principal


@dataclasses.dataclass
class StepResult:
    """One server step: the payload to send, and the user once authentication is complete."""

    payload: bytes
    done: bool
    user: AuthenticatedUser | None = None
    principal: str = ""  # principalName in the log
    extra_info: Document = dataclasses.field(default_factory=dict)
