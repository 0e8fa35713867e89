"""What the driver's errors mean: a pymongo exception as a ``WifError`` with the cause in plain words
and the next step (``explain_error``), for every place that talks to a server through pymongo."""

from __future__ import annotations

from pathlib import Path

from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from .errors import ConfigError, ServiceError, TokenError, WifError


def explain_error(
    exc: BaseException, *, kit: bool = True, where: str = "", admin_credentials: Path | None = None
) -> WifError:
    """A pymongo (or kit) error as a WifError: the cause in one line and the next step.

    ``admin_credentials``: the client logged in as the kit's administrator with the SCRAM-SHA-256
    credentials of this file (``authorization.admin_client``), so a code 18 is that password refused,
    not a token."""
    if isinstance(exc, WifError):
        return exc
    if isinstance(exc, OperationFailure):
        code = exc.code
        if code == 18 and admin_credentials is not None:
            return _administrator_refused(admin_credentials)
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
        if code == 31:  # RoleNotFound: a ROLE@DB to inherit that the server does not have
            return ConfigError(
                f"the server has no such role: {first_line(exc)}",
                hint="check the ROLE@DB spelling (built-in roles such as read, readWrite or dbAdmin, with "
                "their database), or create that role first (--group, with wif authorize or %wif_authorize)",
            )
        if code == 391:
            return TokenError(
                "the session's token expired and reauthentication did not succeed (391)",
                hint="make the token source return a fresh token (file, callback); %wif_doctor explains",
            )
        return ServiceError(
            f"the server refused the command (code {code}): {first_line(exc)}",
            hint="run %wif_doctor (in a terminal: wif doctor) for a diagnosis",
        )
    if isinstance(exc, ServerSelectionTimeoutError):
        if kit:
            return ServiceError(
                f"cannot reach the test mongod{where}: it is not running or not answering",
                hint="start it with %wif_up (then %wif_status shows where it listens; in a terminal: "
                "wif up, wif status)",
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


def _administrator_refused(admin_credentials: Path) -> WifError:
    # The test server sets the administrator's password from admin.json whenever it starts
    # (server/authz.py ensure_admin); a real Enterprise mongod keeps the one it was created with.
    return ServiceError(
        "the server refused the kit administrator's login (SCRAM-SHA-256, code 18): the password in "
        f"{admin_credentials} is not the administrator's password on this server",
        hint="restart the test mongod, which sets the administrator's password from that file "
        "(%wif_mongod stop, then %wif_mongod start; `wif mongod stop` / `wif mongod start`); on a real "
        "Enterprise mongod write its administrator's password into that file; or start over with "
        "%wif_reset then %wif_up",
    )


def first_line(exc: BaseException) -> str:
    """The server's errmsg (or the exception's text), first line only."""
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("errmsg"):
        return str(details["errmsg"]).splitlines()[0]
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
