"""A real IPython shell with the kit's extension loaded, for tests of the magics."""

from __future__ import annotations

from typing import Any

from wif_notebook.state import StateDir


def magic_shell(state: StateDir) -> Any:
    """The process's IPython shell (``%load_ext wif_notebook`` done) with its magics on ``state``."""
    from IPython.core.getipython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    start_ipython()  # once per process; later calls return None and keep the same shell
    shell = get_ipython()
    assert shell is not None
    shell.run_line_magic("load_ext", "wif_notebook")
    shell.run_line_magic("config", f"WifMagics.state_dir = {str(state.path)!r}")
    return shell
