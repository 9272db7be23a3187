"""Feature screens of the Textual app: chat, conversation list, setup. Widgets never call an SDK; workers call backends and post messages."""
