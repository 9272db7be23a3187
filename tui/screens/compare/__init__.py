"""The compare screen: one prompt, two to four profiles answering it side by side."""

from thinkpane.tui.screens.compare.picker import choose_columns
from thinkpane.tui.screens.compare.screen import CompareScreen

__all__ = ["CompareScreen", "choose_columns"]
