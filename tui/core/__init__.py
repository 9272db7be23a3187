"""What every front end shares — store, config, paths, export, sanitiser, turn recorder. Imports backends and the standard library; never Textual (a test enforces it)."""
