"""Shared fixtures. Every test gets private config and data dirs: nothing touches the user's."""

from __future__ import annotations

import os

import pytest

from thinkpane.backends.secrets import SECRET_ENV_VARS

# huggingface_hub reads HF_ENDPOINT once, when first imported (which may happen while tests are
# collected, before any fixture runs): from the start, the Hub is a closed port on loopback.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Point config, data and provider env vars at a temp dir; clear keys from the real env."""
    monkeypatch.setenv("THINKPANE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("THINKPANE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("THINKPANE_CONFIG", raising=False)
    for var in (*SECRET_ENV_VARS, "OPENAI_BASE_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Models: a private Hugging Face cache, and no test may reach huggingface.co or a real
    # Ollama / LM Studio (port 9 on loopback refuses at once); tests point these at stand-ins.
    for var in ("HF_HUB_CACHE", "HF_TOKEN", "HF_HUB_OFFLINE", "THINKPANE_MODELS_DIR", "THINKPANE_LOCAL_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("THINKPANE_LMSTUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def store(tmp_path):
    """A conversation store in the test's temp dir, closed afterwards."""
    from thinkpane.tui.core.store import ConversationStore

    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


@pytest.fixture
def read_only_data_dir(tmp_path, monkeypatch):
    """THINKPANE_DATA_DIR on a folder that cannot be written: mode 0500, or for root (who
    writes through permissions) a read-only tmpfs; skipped when neither can be made here."""
    import os
    import shutil
    import subprocess

    folder = tmp_path / "read-only-data"
    folder.mkdir()
    mounted = False
    if os.geteuid() != 0:
        folder.chmod(0o500)
    else:
        if shutil.which("mount") is None:
            pytest.skip("needs mount rights to make a read-only folder as root")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                                check=False, capture_output=True)
        if result.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
        mounted = True
    monkeypatch.setenv("THINKPANE_DATA_DIR", str(folder))
    try:
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)
        else:
            folder.chmod(0o700)
