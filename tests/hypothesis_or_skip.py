"""``given``, ``settings`` and ``st`` from hypothesis, or stand-ins that skip property tests.

hypothesis is in the test extras; this keeps the plain unit tests in the same modules
running on a machine where it is missing (the property tests then show as skipped).
"""

from __future__ import annotations

from typing import Any

import pytest

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - only without the test extras

    class _Absorb:
        """Stands for any strategy expression: every attribute and call returns itself."""

        def __getattr__(self, name: str) -> _Absorb:
            return self

        def __call__(self, *args: Any, **kwargs: Any) -> _Absorb:
            return self

    st = _Absorb()  # type: ignore[assignment]

    def given(*args: Any, **kwargs: Any):  # type: ignore[no-redef]
        return pytest.mark.skip(reason="hypothesis is not installed (pip install hypothesis)")

    def settings(*args: Any, **kwargs: Any):  # type: ignore[no-redef]
        return lambda test: test

__all__ = ["given", "settings", "st"]
