"""Session templates: tmuxp/tmuxinator import, reconciling apply, freeze (tmuxp YAML).

Public surface: ``load`` (a file → ``Template``), ``apply`` (reconcile a session with a
template), ``freeze`` and ``dump`` (a running session → tmuxp YAML).
"""

from orchflow_core.templates.apply import apply
from orchflow_core.templates.freeze import dump, freeze
from orchflow_core.templates.model import Command, PaneSpec, Template, WindowSpec
from orchflow_core.templates.tmuxp import from_tmuxinator, from_tmuxp, load

__all__ = [
    "Command", "PaneSpec", "Template", "WindowSpec", "apply", "dump", "freeze",
    "from_tmuxinator", "from_tmuxp", "load",
]  # fmt: skip
