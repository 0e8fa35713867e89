"""The top-level package exports the supported API with ``__all__``, lazily, without shadowing a
submodule (``wif_notebook.connect`` is a module, so ``connect`` cannot also be a function there)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import wif_notebook

SUBMODULES = {m.name for m in pkgutil.iter_modules(wif_notebook.__path__)}


def test_the_supported_api_is_exported() -> None:
    wanted = {"obtain", "authorize", "diagnose", "up", "down", "reset", "decode", "verify"}
    assert wanted <= set(wif_notebook.__all__)
    for name in wif_notebook.__all__:
        assert getattr(wif_notebook, name) is not None, name
    assert wif_notebook.obtain.__module__ == "wif_notebook.tokens"
    assert wif_notebook.diagnose.__module__ == "wif_notebook.doctor"


def test_no_exported_name_is_also_a_submodule() -> None:
    assert not set(wif_notebook.__all__) & SUBMODULES


def test_star_import_gives_exactly_the_supported_api() -> None:
    namespace: dict[str, object] = {}
    exec("from wif_notebook import *", namespace)  # noqa: S102
    assert set(namespace) - {"__builtins__"} == set(wif_notebook.__all__)


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, wif_notebook\n"
        "heavy = ('pymongo', 'matplotlib', 'ipywidgets', 'yaml', 'jwt', 'wif_notebook.tokens')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
