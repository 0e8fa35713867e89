"""mongod's IDL parser errors for command fields, shared by the command handlers.

A command field of the wrong BSON type fails with ``TypeMismatch`` (14), a required one that is
absent with ``Location40414`` and, in a strict struct (a write statement), an undeclared one with
``Location40415``, worded as mongod's generated parsers word them: the texts are the rule book's
(``oidc.tokenparse``), which reports a token's or a provider's fields the same way. The custom
deserializers of write_ops.idl (an update, a delete's limit, a hint) are here too, with their texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any

from bson.decimal128 import Decimal128

from ..oidc.tokenparse import bson_type_name, missing_field_text, unknown_field_text, wrong_type_text
from .registry import CommandError, Parser

# IDL's ``safeBool``: a bool or any number, read as its truth value (``safe_bool``).
SAFE_BOOL = "[bool, long, int, decimal, double]"


def safe_bool(value: Any) -> bool:
    """A ``SAFE_BOOL`` field's value as mongod reads it (BSONElement::trueValue): a bool, or a number
    other than zero (a missing field: False). ``bool()`` of a Decimal128 is True whatever its
    number, as of any object: its number is asked (NumberDecimal(0) is false, NaN true)."""
    if isinstance(value, Decimal128):
        return not value.to_decimal().is_zero()
    return bool(value)


# write_ops::kMaxWriteBatchSize: the most statements one insert, update or delete may carry (hello
# reports it as maxWriteBatchSize).
MAX_WRITE_BATCH_SIZE = 100_000

# The generic arguments every command takes (idl/generic_argument.idl: generic_args_api_v1, then
# generic_args_unstable_v1): a strict command refuses any other field it does not declare. Read from
# the stored mongodb/mongo master; 7.0's file may lack the newest internal ones (expectPrefix,
# $tenant), which no driver sends: UNCONFIRMED for 7.0.
GENERIC_ARGUMENTS = frozenset(
    {
        "apiVersion",
        "apiStrict",
        "apiDeprecationErrors",
        "$db",
        "maxTimeMS",
        "readConcern",
        "writeConcern",
        "lsid",
        "clientOperationKey",
        "txnNumber",
        "autocommit",
        "startTransaction",
        "stmtId",
        "comment",
        "$readPreference",
        "$clusterTime",
        "$audit",
        "$client",
        "$configServerState",
        "allowImplicitCollectionCreation",
        "$oplogQueryData",
        "$queryOptions",
        "$replData",
        "databaseVersion",
        "shardVersion",
        "tracking_info",
        "coordinator",
        "maxTimeMSOpOnly",
        "$configTime",
        "$topologyTime",
        "txnRetryCounter",
        "mayBypassWriteBlocking",
        "$tenant",
        "expectPrefix",
    }
)

# How a field is declared: its BSON type name, mongod's bracketed list of them, or a parser of its own
# (IDL's custom deserializers) that raises mongod's error for a value it refuses (what it returns is
# the parsed value, unused by the check).
FieldType = str | Callable[[Any], object]


def wrong_type(field: str, value: Any, expected: str) -> CommandError:
    """14 TypeMismatch: ``BSON field 'find.filter' is the wrong type 'int', expected type 'object'``
    (see ``wrong_type_text`` for ``field`` and ``expected``)."""
    return CommandError(14, wrong_type_text(field, value, expected), "TypeMismatch")


def missing_field(field: str) -> CommandError:
    """40414: ``BSON field 'insert.documents' is missing but a required field`` (the dotted path)."""
    return CommandError(40414, missing_field_text(field), "Location40414")


def unknown_field(field: str) -> CommandError:
    """40415: ``BSON field 'insert.ordred' is an unknown field.`` (a strict struct or command)."""
    return CommandError(40415, unknown_field_text(field), "Location40415")


def check_fields(
    fields_given: Iterable[tuple[str, Any]],
    struct: str,
    fields: Mapping[str, FieldType],
    allowed: frozenset[str] = frozenset(),
) -> None:
    """What mongod's generated parser of a strict struct or command checks before it runs: each
    declared field's type, in the order the document lists its fields, so the first wrong one is
    the one reported; a field ``fields`` does not declare is refused (``BSON field 'insert.ordred'
    is an unknown field.``, 40415) unless ``allowed`` names it. A null is an optional field left out
    (IDL skips it) unless the field has a parser of its own, which IDL hands the null to."""
    for name, value in fields_given:
        declared = fields.get(name)
        if declared is not None:
            _check_value(struct, name, value, declared)
        elif name not in allowed:
            raise unknown_field(f"{struct}.{name}")


def _check_value(struct: str, name: str, value: Any, declared: FieldType) -> None:
    if callable(declared):
        declared(value)
    elif value is not None and bson_type_name(value) not in declared.strip("[]").split(", "):
        raise wrong_type(f"{struct}.{name}", value, declared)


def check_command(cmd: Mapping[str, Any], struct: str, fields: Mapping[str, FieldType]) -> None:
    """A strict IDL command (the write commands, aggregate, the catalog commands): its first field names
    the command (by any alias), the generic arguments any command takes are its dispatcher's, and
    every other field must be one ``fields`` declares (``check_fields``)."""
    check_fields(islice(cmd.items(), 1, None), struct, fields, GENERIC_ARGUMENTS)


def command_parser(struct: str, fields: Mapping[str, FieldType], *required: str) -> Parser:
    """The parse of a strict IDL command whose request has no rule beyond its fields' types:
    ``check_command``, then the first ``required`` field that is absent or null (40414), as mongod's
    generated parser checks them once it has read every field."""

    def parse(cmd: Mapping[str, Any]) -> None:
        check_command(cmd, struct, fields)
        for name in required:
            if cmd.get(name) is None:
                raise missing_field(f"{struct}.{name}")

    return parse


def check_struct(
    doc: Mapping[str, Any], struct: str, fields: Mapping[str, FieldType], required: Iterable[str]
) -> None:
    """A strict IDL struct (an entry of a write command's statements): its fields as
    ``check_fields`` checks them, then the first ``required`` field that is absent
    (a null one too, unless its own parser took it)."""
    check_fields(doc.items(), struct, fields)
    for name in required:
        if doc.get(name) is None and not (name in doc and callable(fields[name])):
            raise missing_field(f"{struct}.{name}")


def array_of(
    path: str, fields: Mapping[str, FieldType] | None = None, required: Iterable[str] = ()
) -> Callable[[Any], None]:
    """IDL's ``array<object>`` (``fields`` None) or ``array<Struct>`` field at ``path``: an array whose
    entries are objects (``BSON field 'update.updates.0' is the wrong type 'int', expected type
    'object'``), each a strict struct when ``fields`` declares one. A null array is left to the
    required-field check and a null entry is skipped, as IDL skips them."""
    needed = tuple(required)

    def check(value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise wrong_type(path, value, "array")
        for index, entry in enumerate(value):
            if entry is None:
                continue
            if not isinstance(entry, dict):
                raise wrong_type(f"{path}.{index}", entry, "object")
            if fields is not None:
                check_struct(entry, path, fields, needed)

    return check


def any_value(value: Any) -> None:
    """A declared field whose value this parse does not check (IDL's ``IDLAnyType``, or one its
    command checks later with mongod's own texts, as aggregate's ``cursor``)."""


def pipeline_array(value: Any) -> None:
    """An aggregate's ``pipeline`` (mongod's parsePipelineFromBSON, which IDL hands any value, a
    null too): an array, else 14, of documents."""
    if not isinstance(value, list):
        raise CommandError(14, "'pipeline' option must be specified as an array", "TypeMismatch")
    pipeline_stages(value)


def pipeline_stages(value: list[Any]) -> None:
    """A pipeline's stages (mongod's parsePipelineFromBSON, for an aggregate's pipeline and a
    pipeline-style update alike): each one a document, else 14."""
    if not all(isinstance(stage, dict) for stage in value):
        raise CommandError(14, "Each element of the 'pipeline' array must be an object", "TypeMismatch")


def update_modification(value: Any) -> None:
    """An update (IDL's ``update_modification``): a document or a pipeline of documents, else
    mongod's 9 (14 for a stage that is not a document)."""
    if not isinstance(value, (dict, list)):
        raise CommandError(9, "Update argument must be either an object or an array", "FailedToParse")
    if isinstance(value, list):
        pipeline_stages(value)


def index_hint(value: Any) -> None:
    """A hint (IDL's ``indexHint``): an index name or a key pattern, else mongod's 9 (a null too)."""
    if not isinstance(value, (str, dict)):
        raise CommandError(9, "Hint must be a string or an object", "FailedToParse")


def multi_delete(value: Any) -> bool:
    """A delete statement's ``limit`` (write_ops' readMultiDeleteProperty): 0 deletes every match
    (True: multi), 1 the first; anything else is mongod's 9. mongod reads the value as a double, and
    any value that is not a number (a bool, a string, a null) reads as 0."""
    if isinstance(value, (int, float, Decimal128)) and not isinstance(value, bool):
        limit = float(value.to_decimal()) if isinstance(value, Decimal128) else float(value)
    else:
        limit = 0.0
    if limit not in (0.0, 1.0):
        # mongod streams the double with printf's %g: 2.0 is "2", 0.5 is "0.5".
        raise CommandError(
            9, f"The limit field in delete objects must be 0 or 1. Got {limit:g}", "FailedToParse"
        )
    return limit == 0.0


def optional_bool(name: str) -> Callable[[Any], None]:
    """IDL's ``optionalBool`` (OptionalBool::parseFromBSON): a bool, else mongod's 14 naming the
    field alone, not its path."""

    def check(value: Any) -> None:
        if not isinstance(value, bool):
            raise CommandError(
                14,
                f"Field '{name}' should be a boolean value, but found: {bson_type_name(value)}",
                "TypeMismatch",
            )

    return check
