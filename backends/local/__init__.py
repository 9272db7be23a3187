"""The in-process GGUF backend (llama-cpp-python). llama_cpp is imported only when a model loads."""

from thinkpane.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
