"""The top-level package exports the supported API with ``__all__``, lazily, without shadowing a
submodule (``wif_notebook.connect`` is a module, so ``connect`` cannot also be a function there)."""

from __future__ import annotations

import ast
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


def _loaded(imports: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after ``imports``."""
    code = f"import sys\n{imports}\nprint(sorted(m for m in {modules!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return list(ast.literal_eval(out.strip()))


def test_importing_the_package_loads_nothing_heavy() -> None:
    heavy = ("pymongo", "matplotlib", "ipywidgets", "yaml", "jwt", "wif_notebook.tokens")
    assert _loaded("import wif_notebook", heavy) == []


def test_granting_roles_and_editing_providers_do_not_load_the_login_module() -> None:
    """connect.py's jobs live apart: the client registry and its environment changes stay unloaded."""
    imports = "import wif_notebook.authorization, wif_notebook.providers, wif_notebook.driver_errors"
    assert _loaded(imports, ("wif_notebook.connect",)) == []
