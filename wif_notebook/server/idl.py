"""mongod's IDL parser errors for command fields, shared by the command handlers.

A command field of the wrong BSON type fails with ``TypeMismatch`` (14) and a required one that is
absent with ``Location40414``, worded as mongod's generated parsers word them: the texts are the
rule book's (``oidc.tokenparse``), which reports a token's or a provider's fields the same way.
"""

from __future__ import annotations

from typing import Any

from ..oidc.tokenparse import missing_field_text, wrong_type_text
from .registry import CommandError


def wrong_type(field: str, value: Any, expected: str) -> CommandError:
    """14 TypeMismatch: ``BSON field 'find.filter' is the wrong type 'int', expected type 'object'``
    (see ``wrong_type_text`` for ``field`` and ``expected``)."""
    return CommandError(14, wrong_type_text(field, value, expected), "TypeMismatch")


def missing_field(field: str) -> CommandError:
    """40414: ``BSON field 'insert.documents' is missing but a required field`` (the dotted path)."""
    return CommandError(40414, missing_field_text(field), "Location40414")
