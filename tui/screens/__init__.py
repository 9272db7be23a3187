"""Screens: the chat (default), the conversation list, and the setup wizard (tui.screens.setup)."""
