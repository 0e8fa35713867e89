"""The long fuzz run (not part of the default suite): 100k+ hostile inputs, bounded in time.

    WIF_FUZZ=1 .venv/bin/python -m pytest tests/fuzz -p no:cacheprovider -q -s

Knobs (environment): ``WIF_FUZZ_CODEC`` (default 100000 inputs at the wire codec),
``WIF_FUZZ_SERVER`` (default 10000 raw frames over sockets to a real test mongod process),
``WIF_FUZZ_COMMANDS`` (default 5000 hostile commands from an administrator). Each test is bounded by
``pytest-timeout`` (``WIF_FUZZ_TIMEOUT``, default 1800 s) and prints how many inputs it ran.
The same strategies run seeded, a few hundred at a time, in ``tests/security/test_hostile_wire.py``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pymongo.errors import OperationFailure, PyMongoError
from security.conftest import DB, RunningKit, exchange, kit, raw_hello, replies  # noqa: F401
from security.strategies import bson_values, command_documents, hostile_bytes
from security.test_hostile_wire import decode

from wif_notebook.server import wire

pytestmark = [
    pytest.mark.skipif(not os.environ.get("WIF_FUZZ"), reason="the long fuzz run: set WIF_FUZZ=1"),
    pytest.mark.timeout(int(os.environ.get("WIF_FUZZ_TIMEOUT", "1800"))),
]

CODEC = int(os.environ.get("WIF_FUZZ_CODEC", "100000"))
SERVER = int(os.environ.get("WIF_FUZZ_SERVER", "10000"))
COMMANDS = int(os.environ.get("WIF_FUZZ_COMMANDS", "5000"))

LONG = settings(database=None, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
counts: dict[str, int] = {"codec": 0, "server": 0, "commands": 0}


def _report(name: str, started: float) -> None:
    print(f"\nfuzz {name}: {counts[name]} inputs in {time.monotonic() - started:.1f} s")


def test_codec_long_run_raises_only_protocol_error() -> None:
    started = time.monotonic()

    @settings(LONG, max_examples=CODEC)
    @given(hostile_bytes)
    def run(data: bytes) -> None:
        counts["codec"] += 1
        try:
            decode(data)
        except wire.ProtocolError as exc:
            assert exc.code > 0 and exc.message

    run()
    _report("codec", started)
    assert counts["codec"] >= CODEC


def test_server_long_run_never_crashes_or_hangs(kit: RunningKit) -> None:  # noqa: F811
    started = time.monotonic()

    @settings(LONG, max_examples=SERVER)
    @given(hostile_bytes)
    def run(data: bytes) -> None:
        counts["server"] += 1
        for reply in replies(exchange(kit.port, data)):
            assert "ok" in reply or "$err" in reply
        if counts["server"] % 50 == 0:
            assert raw_hello(kit.port)["ok"] == 1.0

    run()
    _report("server", started)
    assert counts["server"] >= SERVER
    assert not kit.mongod_log(21966), "a command raised an unexpected exception"
    kit.assert_serving()


def test_command_handlers_long_run(kit: RunningKit) -> None:  # noqa: F811
    started = time.monotonic()
    internal: list[str] = []

    @settings(LONG, max_examples=COMMANDS)
    @given(command_documents(), bson_values)
    def run(doc: dict[str, Any], filler: Any) -> None:
        counts["commands"] += 1
        doc.pop("$db", None)
        name = next(iter(doc), "")
        if not name or name in ("saslStart", "saslContinue"):
            return
        try:
            kit.shared_admin()[DB].command(doc)
        except OperationFailure as exc:
            if exc.code == 1:
                internal.append(f"{name}: {exc}")
        except (PyMongoError, ValueError, TypeError, OverflowError):
            pass

    run()
    _report("commands", started)
    assert internal == [], internal[:5]
    kit.assert_serving()
