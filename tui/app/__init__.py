"""The Textual app: bindings, command palette, copy and export actions, which screen shows when. Imports ``core``, ``screens``, ``widgets`` and ``render``."""

from thinkpane.tui.app.app import ThinkpaneApp

__all__ = ["ThinkpaneApp"]
