"""The chat screen and its live-turn pipeline (stream worker, the messages it posts)."""

from thinkpane.tui.screens.chat.screen import ChatScreen

__all__ = ["ChatScreen"]
