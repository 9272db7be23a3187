"""Thinkpane's terminal front end (Textual app, `thinkpane ask`, setup and teardown)."""

__version__ = "0.1.0"
