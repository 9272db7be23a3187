"""The ``thinkpane`` command and its subcommands. Imports ``core`` and ``backends``; the Textual app only when a command opens it."""
