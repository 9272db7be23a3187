"""Shared fixtures. Every test gets private config and data dirs: nothing touches the user's."""

from __future__ import annotations

import pytest

from thinkpane.backends.secrets import SECRET_ENV_VARS


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Point config, data and provider env vars at a temp dir; clear keys from the real env."""
    monkeypatch.setenv("THINKPANE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("THINKPANE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("THINKPANE_CONFIG", raising=False)
    for var in (*SECRET_ENV_VARS, "OPENAI_BASE_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def store(tmp_path):
    """A conversation store in the test's temp dir, closed afterwards."""
    from thinkpane.tui.core.store import ConversationStore

    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()
