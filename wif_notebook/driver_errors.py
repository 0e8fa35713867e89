"""What the driver's errors mean: a pymongo exception as a ``WifError`` with the cause in plain words
and the next step (``explain_error``), for every place that talks to a server through pymongo."""

from __future__ import annotations

from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from .errors import ConfigError, ServiceError, TokenError, WifError


def explain_error(exc: BaseException, *, kit: bool = True, where: str = "") -> WifError:
    """A pymongo (or kit) error as a WifError: the cause in one line and the next step."""
    if isinstance(exc, WifError):
        return exc
    if isinstance(exc, OperationFailure):
        code = exc.code
        if code == 18:
            return TokenError(
                "authentication failed: the server rejected the token",
                hint="run %wif_doctor to see which rule (the server logged the exact reason)",
            )
        if code == 13:
            return ConfigError(
                f"not authorized: {first_line(exc)}",
                hint="run %wif_doctor to see which role or privilege is missing; "
                "%wif_authorize --group G --role R grants one",
            )
        if code == 391:
            return TokenError(
                "the session's token expired and reauthentication did not succeed (391)",
                hint="make the token source return a fresh token (file, callback); %wif_doctor explains",
            )
        return ServiceError(
            f"the server refused the command (code {code}): {first_line(exc)}",
            hint="run %wif_doctor for a diagnosis",
        )
    if isinstance(exc, ServerSelectionTimeoutError):
        if kit:
            return ServiceError(
                f"cannot reach the test mongod{where}: it is not running or not answering",
                hint="start it with %wif_up (then %wif_status shows where it listens)",
            )
        return ServiceError(
            f"cannot reach the server{where}: {first_line(exc)[:200]}",
            hint="check the URI, the network and the cluster's IP access list",
        )
    if isinstance(exc, ConfigurationError):
        return ConfigError(
            f"pymongo refused the connection settings: {first_line(exc)}",
            hint="fix the URI or the authMechanismProperties",
        )
    if isinstance(exc, (ConnectionFailure, PyMongoError)):
        cause = exc.__cause__ or exc.__context__
        detail = first_line(cause) if cause is not None else first_line(exc)
        if "IMDS" in str(exc) or "GCP" in str(exc) or "metadata" in str(exc).lower():
            return TokenError(
                f"the built-in cloud integration could not get a token: {detail[:300]}",
                hint="in the kit: %wif_up and use --env azure/gcp without a URI (metadata hosts are "
                "simulated); on a real host: check the managed identity / service account",
            )
        return ServiceError(f"MongoDB connection failed: {detail[:300]}", hint="run %wif_doctor")
    return WifError(f"{type(exc).__name__}: {first_line(exc)}", hint="run %wif_doctor")


def first_line(exc: BaseException) -> str:
    """The server's errmsg (or the exception's text), first line only."""
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("errmsg"):
        return str(details["errmsg"]).splitlines()[0]
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
