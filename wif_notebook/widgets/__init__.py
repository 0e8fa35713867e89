"""Widgets for the notebook (ipywidgets 8, composed; no custom JavaScript).

- ``Wizard``: identity → token → claims → server configuration → authorize → connect, step by step;
- ``TokenInspector``: a token's parts, claims in plain words and the rule book's verdict;
- ``ProviderForm``: an ``oidcIdentityProviders`` entry that validates as you type.

Import this package only when a widget is wanted: it imports ipywidgets.
"""

from .inspector import TokenInspector
from .provider_form import ProviderForm
from .wizard import Wizard, WizardState

__all__ = ["ProviderForm", "TokenInspector", "Wizard", "WizardState"]
