"""Ollama and LM Studio: discovery in ``thinkpane models list`` and ``--backend ollama`` chatting.

Against the stand-ins in :mod:`tests.servers.ollama` over real HTTP on 127.0.0.1; OLLAMA_HOST
and THINKPANE_LMSTUDIO_URL point at them (conftest points both at a closed port otherwise).
"""

from __future__ import annotations

import pytest

from tests.servers.ollama import ANSWER, REASONING, serve_lmstudio, serve_ollama
from thinkpane.backends import registry
from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.servers import ollama_url
from thinkpane.tui.cli.main import main


@pytest.fixture
def ollama(monkeypatch):
    with serve_ollama() as server:
        monkeypatch.setenv("OLLAMA_HOST", server.host)
        yield server


def test_models_list_shows_ollama_models_and_which_ones_think(ollama, monkeypatch, capsys) -> None:
    with serve_lmstudio() as lmstudio:
        monkeypatch.setenv("THINKPANE_LMSTUDIO_URL", lmstudio.url)
        assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    ollama_part = out[out.index("Ollama at"):out.index("LM Studio at")]
    assert f"Ollama at {ollama.url} (thinkpane --backend ollama --model NAME):" in ollama_part
    rows = {line.split()[0]: line for line in ollama_part.splitlines()[2:] if line.strip()}
    assert rows["qwen3:0.6b"].split()[3] == "yes"  # capabilities from /api/show include "thinking"
    assert rows["llama3.2:1b"].split()[3] == "no"
    assert "523 MB" in rows["qwen3:0.6b"] and "751.63M Q4_K_M" in rows["qwen3:0.6b"]
    lmstudio_part = out[out.index("LM Studio at"):]
    assert f"--base-url {lmstudio.url}/v1 --model NAME" in lmstudio_part
    assert "qwen3-0.6b" in lmstudio_part and "deepseek-r1-distill-qwen-1.5b" in lmstudio_part
    shown = [r.body["model"] for r in ollama.requests if r.path == "/api/show"]
    assert sorted(shown) == ["llama3.2:1b", "qwen3:0.6b"]


def test_ask_with_backend_ollama_needs_no_other_configuration(ollama, capsys) -> None:
    assert main(["ask", "--backend", "ollama", "--model", "qwen3:0.6b", "hello"]) == 0
    out, err = capsys.readouterr()
    assert out == "".join(ANSWER) + "\n"
    assert err == "".join(REASONING) + "\n\n"  # reasoning from delta.reasoning, on stderr
    (chat,) = ollama.chats()
    assert chat.body["model"] == "qwen3:0.6b" and chat.body["stream"] is True
    assert "reasoning_effort" not in chat.body  # thinking on: the model's default


def test_thinking_off_sends_reasoning_effort_none(ollama, capsys) -> None:
    assert main(["ask", "--backend", "ollama", "--model", "qwen3:0.6b", "--thinking", "off", "hello"]) == 0
    out, err = capsys.readouterr()
    assert out == "".join(ANSWER) + "\n" and err == ""
    assert ollama.chats()[0].body["reasoning_effort"] == "none"


def test_ollama_without_a_model_or_with_an_unknown_one_says_what_to_do(ollama, capsys) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry.create("ollama", {})
    assert "--model NAME" in caught.value.hint and "thinkpane models list" in caught.value.hint
    assert main(["ask", "--backend", "ollama", "--model", "qwen9:1b", "hi"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "ollama pull qwen9:1b" in err


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        (":11500", "http://127.0.0.1:11500"),
        ("https://ollama.example.org", "https://ollama.example.org:11434"),
    ],
)
def test_ollama_host_is_read_like_the_ollama_cli(host, url) -> None:
    assert ollama_url({} if host is None else {"OLLAMA_HOST": host}) == url
