"""One real mock IdP process per test module (starting one takes a moment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _support.kit import running_idp

from wif_notebook.state import ServiceRecord, StateDir


@pytest.fixture(scope="module")
def idp_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    with running_idp(tmp_path_factory.mktemp("tokens") / "state") as (state, _kit):
        yield state


@pytest.fixture(scope="module")
def idp_record(idp_state: StateDir) -> ServiceRecord:
    from wif_notebook.idp.service import idp_record

    record = idp_record(idp_state)
    assert record is not None
    return record


@pytest.fixture
def mongod_conf(idp_state: StateDir) -> Iterator[Path]:
    """The state directory's mongod.conf for a test to write; removed after it, since the module's
    other tests share the state directory and expect the IdP's defaults."""
    yield idp_state.mongod_conf
    idp_state.mongod_conf.unlink(missing_ok=True)
