"""Widgets of the Textual app. They show text and post messages; they never call a backend or an SDK."""
