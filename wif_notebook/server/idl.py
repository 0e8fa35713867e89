"""mongod's IDL parser errors for command fields, shared by the command handlers.

A command field of the wrong BSON type fails with ``TypeMismatch`` (14) and a required one that is
absent with ``Location40414``, worded as mongod's generated parsers word them.
"""

from __future__ import annotations

from typing import Any

from bson.int64 import Int64

from .registry import CommandError

# What mongod names a field that takes any number.
NUMBER_TYPES = "[long, int, decimal, double]"


def bson_type_name(value: Any) -> str:
    """The BSON type name mongod prints for a decoded command value (``typeName``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return type(value).__name__


def wrong_type(field: str, value: Any, expected: str) -> CommandError:
    """``BSON field 'find.filter' is the wrong type 'int', expected type 'object'``.

    ``field`` is the dotted path; ``expected`` a type name or mongod's bracketed list of them, which
    it introduces as "types" rather than "type".
    """
    noun = "types" if expected.startswith("[") else "type"
    return CommandError(
        14,
        f"BSON field '{field}' is the wrong type '{bson_type_name(value)}', expected {noun} '{expected}'",
        "TypeMismatch",
    )


def missing_field(field: str) -> CommandError:
    """``BSON field 'insert.documents' is missing but a required field`` (``field`` is the dotted path)."""
    return CommandError(40414, f"BSON field '{field}' is missing but a required field", "Location40414")
