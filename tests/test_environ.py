"""Variables the kit sets in its own process come back exactly as they were (environ.EnvChanges)."""

from __future__ import annotations

import os

import pytest

from wif_notebook.environ import EnvChanges, temporarily


def test_undoing_changes_restores_the_first_value_seen_and_unsets_what_was_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WIF_T_KEPT", "the user's")
    monkeypatch.delenv("WIF_T_NEW", raising=False)
    changes = EnvChanges()
    changes.update({"WIF_T_KEPT": "kit 1", "WIF_T_NEW": "kit"})
    changes.set("WIF_T_KEPT", "kit 2")  # a second change still restores the user's value
    assert os.environ["WIF_T_KEPT"] == "kit 2" and os.environ["WIF_T_NEW"] == "kit"
    assert changes.restore(["WIF_T_NEW", "WIF_T_NEVER_SET"]) == ["WIF_T_NEW"]
    assert "WIF_T_NEW" not in os.environ and changes.names == ["WIF_T_KEPT"]
    assert changes.restore() == ["WIF_T_KEPT"]
    assert os.environ["WIF_T_KEPT"] == "the user's" and changes.names == []


def test_temporarily_unsets_and_sets_for_the_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIF_T_GONE", "there")
    monkeypatch.delenv("WIF_T_SET", raising=False)
    with pytest.raises(RuntimeError), temporarily({"WIF_T_GONE": None, "WIF_T_SET": "inside"}):
        assert "WIF_T_GONE" not in os.environ and os.environ["WIF_T_SET"] == "inside"
        raise RuntimeError("the block failed")
    assert os.environ["WIF_T_GONE"] == "there" and "WIF_T_SET" not in os.environ
