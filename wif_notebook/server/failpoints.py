"""The ``failCommand`` failpoint, as mongod implements it for driver tests (reference §15.3).

``configureFailPoint`` sets a mode (``alwaysOn``, ``off``, ``{times: N}``, ``{skip: N}``) and data
(``failCommands``, ``errorCode``, ``closeConnection``, ``appName``, ``blockConnection`` +
``blockTimeMS``, ``errorLabels``, ``namespace``, ``writeConcernError``, ``errorExtraInfo``,
``failAllCommands``). The connection loop asks ``FailPoints.check`` before it runs a command and acts
on the returned ``FailAction``. ``configureFailPoint`` itself and speculative authentication inside
hello are never failed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .registry import CommandError, Document

FAIL_COMMAND = "failCommand"
FAILED_MESSAGE = "Failing command via 'failCommand' failpoint"
_EXEMPT = {"configureFailPoint"}


@dataclass
class FailAction:
    """What the connection loop must do for one command."""

    block_ms: int = 0
    close_connection: bool = False
    error: CommandError | None = None
    write_concern_error: Document | None = None


@dataclass
class _FailCommandState:
    mode: str = "off"  # off | alwaysOn | times | skip
    remaining: int = 0  # times: activations left; skip: matches still to skip
    data: Document = field(default_factory=dict)
    times_entered: int = 0


class FailPoints:
    """Thread-safe failpoint registry (only ``failCommand`` exists in the kit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fail_command = _FailCommandState()

    def configure(self, cmd: Document) -> Document:
        """Handle ``{configureFailPoint: name, mode, data}``; returns mongod's reply body."""
        name = cmd.get("configureFailPoint")
        if name != FAIL_COMMAND:
            # mongod: setGlobalFailPoint → "<name> not found" (code UNCONFIRMED; BadValue here).
            raise CommandError(2, f"{name} not found")
        mode, remaining = _parse_mode(cmd.get("mode"))
        data = cmd.get("data", {})
        if not isinstance(data, dict):
            raise CommandError(14, "'data' must be an object", "TypeMismatch")
        with self._lock:
            previous = self._fail_command.times_entered
            self._fail_command = _FailCommandState(mode=mode, remaining=remaining, data=dict(data))
        # Reply field name "count" is UNCONFIRMED (reference §17); it holds the times entered so far.
        return {"count": previous}

    def check(self, command: str, app_name: str | None, namespace: str | None) -> FailAction | None:
        """The action for this command, consuming one activation when the failpoint fires."""
        if command in _EXEMPT:
            return None
        with self._lock:
            state = self._fail_command
            if state.mode == "off" or not _matches(state.data, command, app_name, namespace):
                return None
            if state.mode == "times":
                if state.remaining <= 0:
                    return None
                state.remaining -= 1
                if state.remaining == 0:
                    state.mode = "off"
            elif state.mode == "skip":
                if state.remaining > 0:
                    state.remaining -= 1
                    return None
            state.times_entered += 1
            data = dict(state.data)
        return _action(data)


def _parse_mode(mode: Any) -> tuple[str, int]:
    if mode == "alwaysOn":
        return "alwaysOn", 0
    if mode == "off":
        return "off", 0
    if isinstance(mode, dict) and len(mode) == 1:
        ((key, value),) = mode.items()
        if key in ("times", "skip") and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            if key == "times" and value == 0:
                return "off", 0
            return key, int(value)
    raise CommandError(
        2,
        "'mode' must be one of 'off', 'alwaysOn', {times: <non-negative int>}, {skip: <non-negative int>}",
    )


def _matches(data: Document, command: str, app_name: str | None, namespace: str | None) -> bool:
    if not data.get("failAllCommands"):
        if command not in (data.get("failCommands") or []):
            return False
    wanted_app = data.get("appName")
    if wanted_app is not None and wanted_app != app_name:
        return False
    wanted_ns = data.get("namespace")
    if wanted_ns is not None and wanted_ns != namespace:
        return False
    return True


def _action(data: Document) -> FailAction:
    action = FailAction()
    if data.get("blockConnection"):
        action.block_ms = int(data.get("blockTimeMS", 0))
    if data.get("closeConnection"):
        action.close_connection = True
        return action
    if "errorCode" in data:
        labels = [str(label) for label in data.get("errorLabels") or []]
        extra = dict(data.get("errorExtraInfo") or {})
        action.error = CommandError(int(data["errorCode"]), FAILED_MESSAGE, labels=labels, extra=extra)
    elif isinstance(data.get("writeConcernError"), dict):
        action.write_concern_error = dict(data["writeConcernError"])
    return action
