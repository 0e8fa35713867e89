"""mongod's structured JSON log, written by the test server.

One JSON object per line, in mongod 4.4+'s shape::

    {"t":{"$date":"2026-11-29T14:50:32.123+00:00"},"s":"I","c":"ACCESS","id":20250,
     "ctx":"conn12","msg":"Authentication succeeded","attr":{...}}

The file is ``systemLog.path`` (0600, flushed per line so ``wif mongod logs`` and the notebook's log
view see entries at once). Raw JWTs never reach the log: every line passes through ``redact``.
The last lines are kept in memory for ``getLog``.
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ..redaction import redact_tokens

# Log ids used by the kit, as mongod 5.0–7.0 writes them. Ids marked UNCONFIRMED follow the
# reference's documented behaviour but were not checked against a 7.0.11 Enterprise log.
ID_STARTING = 4615611  # "MongoDB starting"
ID_WAITING_FOR_CONNECTIONS = 23016
ID_CONNECTION_ACCEPTED = 22943
ID_CONNECTION_ENDED = 22944
ID_CONNECTION_REFUSED = 22942  # "Connection refused because there are too many open connections"
ID_CLIENT_METADATA = 51800
ID_AUTH_SUCCEEDED = 20250  # reference §3.4
ID_AUTH_FAILED = 20249  # reference §3.5 (the enterprise jstest also shows 5286307)
ID_REAUTH_SAME_USER = 5626700  # reference §5
ID_FAILED_TO_AUTHENTICATE = 5286307  # "Failed to authenticate" (debug level 1 in mongod)
ID_RECEIVE_ERROR = 22989  # "Error receiving request from client. Ending connection from remote" (UNCONFIRMED)
ID_ACCESS_CONTROL_DISABLED = 22120  # startup warning when security.authorization is off
ID_TEST_SERVER = 9900001  # the kit's own startup warning (no mongod equivalent)
ID_BIND_NOT_LOOPBACK = 9900002  # the kit's warning: net.bindIp is not loopback only
ID_SLOW_QUERY = 51803  # "Slow query"; the kit also writes it for every failed command (errCode)
ID_JWKS_LOAD_FAILED = 7119501  # "Failed to load JWKs" at startup (UNCONFIRMED id)
ID_JWKS_REFRESHED = 7119502  # a JWKS refresh changed keys (UNCONFIRMED id)
ID_USERS_INVALIDATED = 7119503  # sessions signed by removed/changed keys must reauthenticate (UNCONFIRMED id)
ID_FAILPOINT_SET = 23829  # "Set failpoint" (UNCONFIRMED id)
ID_COMMAND_ERROR = 21966  # an unexpected exception inside a command (UNCONFIRMED id)
ID_SHUTDOWN = 23138  # "Shutting down"
ID_UNCLEAN_SHUTDOWN = 22271  # "Detected unclean shutdown - Lock file is not empty" (storage_engine_init.cpp)
ID_TORN_JOURNAL_RECORD = 9900101  # the kit's own: its journal's torn last record was cut off


def timestamp(now: float | None = None) -> str:
    moment = _dt.datetime.fromtimestamp(
        now if now is not None else _dt.datetime.now().timestamp(), tz=_dt.timezone.utc
    )
    return moment.isoformat(timespec="milliseconds")


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, _dt.datetime):
        return {"$date": value.isoformat(timespec="milliseconds")}
    return str(value)


class MongodLog:
    """Writes mongod-shaped JSON lines to a file (or a stream) and remembers the recent ones."""

    def __init__(self, path: Path | None = None, *, stream: IO[str] | None = None, keep: int = 1024) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._recent: collections.deque[str] = collections.deque(maxlen=keep)
        self.startup_warnings: list[str] = []
        self.total_lines = 0
        self._stream: IO[str] | None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._stream = os.fdopen(fd, "a", encoding="utf-8")
            self._owned = True
        else:
            self._stream = stream if stream is not None else sys.stdout
            self._owned = False

    def log(
        self,
        component: str,
        log_id: int,
        msg: str,
        attr: dict[str, Any] | None = None,
        *,
        severity: str = "I",
        ctx: str = "conn",
        startup_warning: bool = False,
    ) -> str:
        """Write one entry; returns the line (without the newline)."""
        entry: dict[str, Any] = {
            "t": {"$date": timestamp()},
            "s": severity,
            "c": component,
            "id": log_id,
            "ctx": ctx,
            "msg": msg,
        }
        if attr:
            entry["attr"] = attr
        if startup_warning:
            entry["tags"] = ["startupWarnings"]
        line = redact_tokens(json.dumps(entry, default=_json_default, separators=(",", ":")))
        with self._lock:
            self._recent.append(line)
            self.total_lines += 1
            if startup_warning:
                self.startup_warnings.append(line)
            if self._stream is not None:
                try:
                    self._stream.write(line + "\n")
                    self._stream.flush()
                except (OSError, ValueError):
                    pass  # a full disk or closed stream must not take the server down
        return line

    def info(
        self, component: str, log_id: int, msg: str, attr: dict[str, Any] | None = None, **kw: Any
    ) -> str:
        return self.log(component, log_id, msg, attr, severity="I", **kw)

    def warning(
        self, component: str, log_id: int, msg: str, attr: dict[str, Any] | None = None, **kw: Any
    ) -> str:
        return self.log(component, log_id, msg, attr, severity="W", **kw)

    def error(
        self, component: str, log_id: int, msg: str, attr: dict[str, Any] | None = None, **kw: Any
    ) -> str:
        return self.log(component, log_id, msg, attr, severity="E", **kw)

    def recent(self) -> list[str]:
        with self._lock:
            return list(self._recent)

    def close(self) -> None:
        with self._lock:
            if self._owned and self._stream is not None:
                self._stream.close()
            self._stream = None
