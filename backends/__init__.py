"""Thinkpane's model backends. No textual import here, ever: any front end can use these."""
