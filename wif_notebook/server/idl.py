"""mongod's IDL parser errors for command fields, shared by the command handlers.

A command field of the wrong BSON type fails with ``TypeMismatch`` (14) and a required one that is
absent with ``Location40414``, worded as mongod's generated parsers word them: the texts are the
rule book's (``oidc.tokenparse``), which reports a token's or a provider's fields the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..oidc.tokenparse import bson_type_name, missing_field_text, wrong_type_text
from .registry import CommandError

# IDL's ``safeBool``: a bool or any number, read as its truth value.
SAFE_BOOL = "[bool, long, int, decimal, double]"

# How a field is declared: its BSON type name, mongod's bracketed list of them, or a parser of its own
# (IDL's custom deserializers) that raises mongod's error for a value it refuses.
FieldType = str | Callable[[Any], None]


def wrong_type(field: str, value: Any, expected: str) -> CommandError:
    """14 TypeMismatch: ``BSON field 'find.filter' is the wrong type 'int', expected type 'object'``
    (see ``wrong_type_text`` for ``field`` and ``expected``)."""
    return CommandError(14, wrong_type_text(field, value, expected), "TypeMismatch")


def missing_field(field: str) -> CommandError:
    """40414: ``BSON field 'insert.documents' is missing but a required field`` (the dotted path)."""
    return CommandError(40414, missing_field_text(field), "Location40414")


def check_field_types(cmd: Mapping[str, Any], struct: str, fields: Mapping[str, FieldType]) -> None:
    """What mongod's generated parser checks before a command runs: each declared field's type, in
    the order the command lists its fields, so the first wrong one is the one reported. A null is
    an optional field left out (IDL skips it), as is a field ``fields`` does not declare."""
    for name, value in cmd.items():
        declared = fields.get(name)
        if declared is None or value is None:
            continue
        if callable(declared):
            declared(value)
        elif bson_type_name(value) not in declared.strip("[]").split(", "):
            raise wrong_type(f"{struct}.{name}", value, declared)


def update_modification(value: Any) -> None:
    """An update (IDL's ``update_modification``): a document or a pipeline, else mongod's 9."""
    if not isinstance(value, (dict, list)):
        raise CommandError(9, "Update argument must be either an object or an array", "FailedToParse")
