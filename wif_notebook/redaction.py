"""One redaction marker for every secret the kit would otherwise show or log.

A token keeps its first ten characters (``eyJhbGciOi``: the start of any JWT's header, enough to
recognise one, never enough to use it) followed by ``…[redacted]``; any other secret value (a query
parameter in the IdP's request log, …) becomes ``[redacted]``. Passwords in connection strings are
shown as ``****``, as MongoDB's own tools do.
"""

from __future__ import annotations

import re

MARKER = "[redacted]"
_KEPT = 10  # characters of a token that stay visible
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact_token(token: str) -> str:
    """``eyJhbGciOi…[redacted]``: enough to recognise a JWT, not enough to use it."""
    return token[:_KEPT] + "…" + MARKER


def redact_tokens(text: str) -> str:
    """``text`` with everything shaped like a compact JWS replaced by its redacted form."""
    return _JWT.sub(lambda m: redact_token(m.group(0)), text)
