"""A full or read-only state directory: a clear error naming the path and the next step, nothing corrupted.

"Full" is a real small tmpfs; "read-only" is a read-only bind mount (``chmod`` would not stop root,
and these tests run as root in the kit's containers). Both need mount privileges: without them the
tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pymongo.errors import OperationFailure

from wif_notebook.errors import WifError
from wif_notebook.idp.service import mint, rotate_keys
from wif_notebook.state import StateDir

from .conftest import DB, FixedCallback, Kit, free_port

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="mount namespaces are Linux only")


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()}); run as root to test this fault")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        _umount(path)


def wif(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WIF_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "wif_notebook.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_intact(root: Path) -> None:
    """Every file the kit wrote is whole: no temporaries, keys load, documents parse."""
    leftovers = [p for p in root.rglob(".*") if p.is_file()]
    assert leftovers == [], f"half-written temporaries left behind: {leftovers}"
    for pem in root.glob("keys/*/*.pem"):
        load_pem_private_key(pem.read_bytes(), password=None)
    for ring in root.glob("keys/*/keyring.json"):
        json.loads(ring.read_text())
    if (root / "principals.yaml").exists():
        assert yaml.safe_load((root / "principals.yaml").read_text())["principals"]


def test_up_on_a_read_only_state_directory_names_it_and_changes_nothing(kit: Kit) -> None:
    kit.close()  # stopped, with keys, catalog, logs and records written by a real run
    root = kit.state.path
    before = snapshot(root)
    with read_only(root):
        result = wif(root, "up", "--idp-port", "0", "--port", "0")
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert str(root) in result.stderr
        assert "Read-only file system" in result.stderr
        assert "next step:" in result.stderr
    assert snapshot(root) == before


def test_up_on_a_full_file_system_names_it_and_leaves_whole_files_that_a_later_up_reuses(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "small", "48k") as mount:
        root = mount / "state"
        result = wif(root, "up", "--idp-port", "0", "--port", "0")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert f"cannot write in {root}" in result.stderr
        assert "No space left on device" in result.stderr
        assert "next step: free some space" in result.stderr
        assert_intact(root)
        kit_keys = sorted(p.name for p in (root / "keys" / "kit").glob("*.pem"))
        assert kit_keys, "the first key was written whole before the disk filled"

        # Room again: the same state directory starts, with the keys it already had.
        subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
        kit = Kit(StateDir(root), free_port())
        try:
            kit.up()
            assert sorted(p.name for p in (root / "keys" / "kit").glob("*.pem")) == kit_keys
            token = kit.token()
            assert jwt.get_unverified_header(token)["kid"] + ".pem" in kit_keys
        finally:
            kit.close()


def _fill(directory: Path) -> Path:
    """Write until the file system is full; returns the filler file."""
    filler = directory / "filler.bin"
    with open(filler, "wb") as fh:
        chunk = b"\0" * 65536
        while True:
            try:
                fh.write(chunk)
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        with contextlib.suppress(OSError):
            os.fsync(fh.fileno())
    # Byte-sized leftovers too: nothing at all may fit.
    with contextlib.suppress(OSError), open(directory / "filler2.bin", "wb", buffering=0) as fh:
        while fh.write(b"\0"):
            pass
    return filler


def test_disk_filling_up_under_running_services_keeps_logins_working_and_refuses_rotation_clearly(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", "6m") as mount:
        kit = Kit(StateDir(mount / "state"), free_port())
        try:
            kit.up()
            kit.grant_role()
            client = kit.oidc_client(FixedCallback(kit.token()))
            client[DB].items.insert_one({"_id": "before"})
            _fill(mount)

            # The services keep serving: logins (the log lines are lost, not the server) and tokens.
            fresh = kit.oidc_client(FixedCallback(kit.token()))
            assert fresh[DB].items.find_one({"_id": "before"}) == {"_id": "before"}
            assert mint(kit.state, "lesson-app")["token"].startswith("eyJ")
            # Writes go on while the journal's last page has room; then one cannot be journaled:
            # refused with the reason and the dbPath, and not applied.
            acknowledged: list[str] = []
            with pytest.raises(OperationFailure) as refused:
                for i in range(2000):
                    fresh[DB].items.insert_one({"_id": f"during-{i}", "pad": "x" * 8192})
                    acknowledged.append(f"during-{i}")
            assert "No space left on device" in str(refused.value)
            assert str(kit.state.path / "db") in str(refused.value)
            assert fresh[DB].items.find_one({"_id": f"during-{len(acknowledged)}"}) is None

            # A key rotation needs the disk: refused with the reason; the old key keeps signing.
            kid_before = jwt.get_unverified_header(kit.token())["kid"]
            with pytest.raises(WifError) as info:
                rotate_keys(kit.state, "kit")
            assert "No space left on device" in str(info.value)
            assert jwt.get_unverified_header(kit.token())["kid"] == kid_before
            assert_intact(kit.state.path)

            for name in ("filler.bin", "filler2.bin"):
                (mount / name).unlink(missing_ok=True)
            rotated = rotate_keys(kit.state, "kit")["rotated"]["kit"]["kid"]
            assert jwt.get_unverified_header(kit.token())["kid"] == rotated != kid_before
            fresh[DB].items.insert_one({"_id": "after"})
            kit.restart_mongod()
            again = kit.oidc_client(FixedCallback(kit.token()))
            ids = sorted(d["_id"] for d in again[DB].items.find({}, {"_id": 1}))
            assert ids == sorted(["after", "before", *acknowledged]), "an acknowledged write was lost"
        finally:
            kit.close()
