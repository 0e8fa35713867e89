"""The state directory (a contract, see docs/ARCHITECTURE.md).

Default ``$XDG_STATE_HOME/wif-notebook`` (``~/.local/state/wif-notebook``); ``WIF_STATE_DIR`` or
``--state-dir`` override it. The directory is 0700 and every file the kit writes there is 0600:
it holds signing keys, client secrets and tokens.

Layout::

    keys/<issuer-id>/          IdP signing keys (PEM, private)
    principals.yaml            the principals catalog (human-editable)
    mongod.conf                the generated configuration of the test mongod
    db/                        storage.dbPath
    logs/                      idp.log (request log, JSON lines), mongod.log (mongod JSON log), *.out
    run/<service>.json         service records: pid, port, urls (written by the running service)
    tokens/                    Kubernetes / AKS / EKS projected token files
    env                        shell export lines (``wif env``)
    tls/                       the kit CA, the IdP's localhost certificate, the CA bundle (tls.py)
    ports.json                 the ports kept for this state directory (ports.py)
    progress/progress.json     the learner's lesson progress (lessons.py); kept by ``wif reset``
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import StateError, WifError

ENV_VAR = "WIF_STATE_DIR"


def default_state_path() -> Path:
    """Where the state directory lives when nothing overrides it."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg).expanduser() / "wif-notebook"


@dataclass
class ServiceRecord:
    """What a running service tells the others about itself (``run/<name>.json``)."""

    name: str
    pid: int
    port: int
    host: str = "127.0.0.1"
    started_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ServiceRecord:
        return cls(
            name=str(doc["name"]),
            pid=int(doc["pid"]),
            port=int(doc["port"]),
            host=str(doc.get("host", "127.0.0.1")),
            started_at=float(doc.get("started_at", 0.0)),
            extra=dict(doc.get("extra", {})),
        )


class StateDir:
    """One state directory; creating it enforces mode 0700."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_state_path()
        self.path = self.path.absolute()
        self.ensure()

    def __repr__(self) -> str:
        return f"StateDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # -- layout ---------------------------------------------------------------------------------
    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def principals_file(self) -> Path:
        return self.path / "principals.yaml"

    @property
    def mongod_conf(self) -> Path:
        return self.path / "mongod.conf"

    @property
    def db_path(self) -> Path:
        return self.path / "db"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def run_dir(self) -> Path:
        return self.path / "run"

    @property
    def tokens_dir(self) -> Path:
        return self.path / "tokens"

    @property
    def env_file(self) -> Path:
        return self.path / "env"

    @property
    def shown_token_file(self) -> Path:
        """The last token `wif claims` refused (0600), so `wif doctor` can diagnose it next."""
        return self.run_dir / "last-refused-token"

    def ensure(self) -> None:
        """Create the directory (0700) or tighten its mode; refuse one we cannot write."""
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.path.stat().st_mode & 0o077:
                os.chmod(self.path, 0o700)
        except OSError as exc:
            raise StateError(
                f"cannot use the state directory {self.path}: {exc.strerror or exc}",
                hint=f"choose a writable folder with --state-dir or {ENV_VAR}",
            ) from exc

    def subdir(self, name: str | Path) -> Path:
        """A private (0700) folder inside the state directory."""
        path = self.path / name
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateError(
                f"cannot create {path}: {exc.strerror or exc}",
                hint="check the free space and permissions of the state directory",
            ) from exc
        return path

    # -- files ----------------------------------------------------------------------------------
    def write_private(self, path: Path, data: str | bytes) -> None:
        """Write a 0600 file atomically (temp file + rename): readers never see half a file."""
        write_private(path, data)

    def read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(
                f"cannot read {path}: {exc}",
                hint="remove the file (or run `wif reset`) and start the services again",
            ) from exc

    # -- service records ------------------------------------------------------------------------
    def record_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def read_record(self, name: str) -> ServiceRecord | None:
        doc = self.read_json(self.record_path(name))
        if not doc:
            return None
        try:
            return ServiceRecord.from_json(doc)
        except (KeyError, TypeError, ValueError):
            return None

    def write_record(self, record: ServiceRecord) -> None:
        self.subdir("run")
        self.write_private(self.record_path(record.name), json.dumps(record.to_json(), indent=2))

    def remove_record(self, name: str) -> None:
        path = self.record_path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # a read-only or foreign-owned state directory
            raise StateError(
                f"cannot remove {path}: {exc.strerror or exc}",
                hint="make the state directory writable (or choose another with --state-dir)",
            ) from exc


def read_text(
    path: Path, error: type[WifError], cannot: str, hint: str, *, missing: tuple[str, str] | None = None
) -> str:
    """The text of ``path``, or ``error`` saying ``{cannot}: {the system's reason}`` with ``hint``;
    ``missing`` (what, hint) answers a file that does not exist, whose next step is often another."""
    try:
        return path.read_text()
    except OSError as exc:
        what, next_step = f"{cannot}: {exc.strerror or exc}", hint
        if missing is not None and isinstance(exc, FileNotFoundError):
            what, next_step = missing
        raise error(what, hint=next_step) from exc


def write_private(path: Path, data: str | bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600."""
    _put_private(path, data, replace=True)


FileStamp = tuple[int, int, int]  # (inode, mtime in ns, size): which file, in which version


def file_stamp(st: os.stat_result) -> FileStamp:
    """The stamp of a stat: a file replaced (new inode) or rewritten (mtime, size) has another."""
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class StampedText(NamedTuple):
    text: str
    stamp: FileStamp  # of the very file ``text`` was read from


def _read_stamped(path: Path) -> StampedText:
    with open(path, encoding="utf-8") as fh:
        # Stamped from the handle, before reading: a file replaced meanwhile keeps its own stamp,
        # and one rewritten in place after the fstat shows a newer stamp than the text it holds.
        stamp = file_stamp(os.fstat(fh.fileno()))
        return StampedText(fh.read(), stamp)


def create_private_once(path: Path, make: Callable[[], str]) -> StampedText:
    """The text of ``path`` and the stamp of the file it was read from (to cache the text by),
    created 0600 with ``make()`` if it does not exist yet.

    Two processes creating it at once both return the same text: the file appears complete and
    only once (a hard link of a written temp file, which fails if the name exists), so the first
    creator wins and the other reads back what the file holds instead of its own value.
    """
    try:
        return _read_stamped(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _cannot_write(path, exc, "read") from exc
    try:
        _put_private(path, make(), replace=False)
    except FileExistsError:
        pass  # another process created it first: its value is the one
    try:
        return _read_stamped(path)
    except OSError as exc:
        raise _cannot_write(path, exc, "read") from exc


def _put_private(path: Path, data: str | bytes, *, replace: bool) -> None:
    """Write ``data`` to a 0600 temp file beside ``path``, then move it to ``path`` (replacing it,
    or only if nothing is there yet: FileExistsError otherwise)."""
    raw = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        moved = False  # os.replace took the temp name; a link leaves it to remove
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            if replace:
                os.replace(tmp, path)
                moved = True
            else:
                os.link(tmp, path)
        finally:
            if not moved:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    except FileExistsError:
        raise
    except OSError as exc:
        raise _cannot_write(path, exc) from exc


def _cannot_write(path: Path, exc: OSError, verb: str = "write") -> StateError:
    return StateError(
        f"cannot {verb} {path}: {exc.strerror or exc}",
        hint="check the free space and permissions of the state directory",
    )
