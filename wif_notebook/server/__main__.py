"""Run the test mongod as a service: ``python -m wif_notebook.server --state-dir D --config mongod.conf``.

Reads mongod.conf (the same file a real Enterprise mongod would start with), creates the kit's
SCRAM administrator on first start, binds ``net.bindIp:net.port`` (0 = a free port), then announces
itself as service ``mongod`` with ``mongodb_uri`` and ``oidc_uri`` (the administrator's password
stays in ``admin.json`` alone: ``stack.administrator_uri`` builds its URI on request). SIGTERM and
SIGINT shut it down cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import sys
from pathlib import Path

from .. import ports, services
from ..errors import WifError
from ..mongod import load_config_file
from ..state import StateDir
from .authz import AuthzStore
from .commands import VERSION
from .core import TestServer
from .data import DataStore
from .log import MongodLog
from .storage import StorageError

SERVICE_NAME = "mongod"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wif_notebook.server", description=__doc__)
    parser.add_argument("--state-dir", default=None, help="the kit's state directory")
    parser.add_argument("--config", default=None, help="mongod.conf (default: <state-dir>/mongod.conf)")
    return parser.parse_args(argv)


def uris(host: str, port: int) -> dict[str, str]:
    """The connection strings a service record carries (``directConnection``: one standalone). No
    password: a record is read by every status reader, and a secret belongs in one file only."""
    base = f"mongodb://{host}:{port}/"
    return {
        "mongodb_uri": f"{base}?directConnection=true",
        "oidc_uri": f"{base}?directConnection=true&authMechanism=MONGODB-OIDC",
    }


async def _serve(server: TestServer, state: StateDir, config_path: Path) -> None:
    port = await server.start()
    host = server.config.bind_ip.split(",")[0].strip() or "127.0.0.1"
    services.announce(
        state,
        SERVICE_NAME,
        port,
        host=host,
        kind="test-server",
        version=VERSION,
        config_path=str(config_path),
        log_path=str(server.config.log_path) if server.config.log_path else None,
        db_path=str(server.config.db_path),
        **uris(host, port),
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    # Until the event loop installs its own handler, SIGTERM still means a clean exit.
    services.exit_on_sigterm()
    args = parse_args(argv)
    try:
        state = StateDir(args.state_dir)
        config_path = Path(args.config) if args.config else state.mongod_conf
        config = load_config_file(config_path)
        # The data store opens first: it refuses a missing, foreign or corrupt dbPath (reading its
        # files once) and takes mongod.lock before the users are touched, so a refused start changes
        # nothing. Like mongod, it never creates the dbPath: the launcher does (start_mongod).
        data = DataStore(config.db_path)
        authz = AuthzStore(config.db_path)
        authz.ensure_admin(state.path)
        log = MongodLog(config.log_path) if config.log_path else MongodLog(stream=sys.stdout)
        server = TestServer(
            config,
            log=log,
            authz=authz,
            argv=[sys.executable, "-m", "wif_notebook.server", *(argv or sys.argv[1:])],
            config_path=config_path.absolute(),
            data=data,
            state=state,
        )
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 100  # mongod's EXIT_UNCAUGHT, as for DBPathInUse or a data file it cannot read
    except WifError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2  # mongod's EXIT_BADOPTIONS
    except OSError as exc:
        print(f"error: cannot use storage.dbPath or systemLog.path: {exc}", file=sys.stderr)
        print(
            "  next step: point them at a writable folder in mongod.conf (the kit uses its state dir)",
            file=sys.stderr,
        )
        return 100  # mongod's EXIT_UNCAUGHT, as for an unusable dbPath
    try:
        asyncio.run(_serve(server, state, config_path.absolute()))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"error: {ports.port_in_use('mongod', config.port)}", file=sys.stderr)
            return 48  # mongod's EXIT_NET_ERROR
        print(
            f"error: cannot listen on {config.bind_ip}:{config.port}: {exc.strerror or exc}", file=sys.stderr
        )
        print("  next step: choose another net.port in mongod.conf (0 picks a free one)", file=sys.stderr)
        return 48  # mongod's EXIT_NET_ERROR
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
