"""``thinkpane compare`` through the real OpenAI backend against stand-in servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from tests.servers.openai_sse import DONE, SetEvent, WaitFor, chunk, deepseek_usage, serve
from thinkpane.backends.openai_compat import OpenAIBackend
from thinkpane.tui.cli.main import main
from thinkpane.tui.core import paths

KEY = "sk-compare-secret-0123456789"


@pytest.fixture
def up():
    with serve() as running:
        yield running


@pytest.fixture
def down() -> str:
    """The base URL of a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def spec(base_url: str, **options: str) -> str:
    return "openai:" + ",".join(f"{k}={v}" for k, v in {"base_url": base_url, **options}.items())


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_each_column_prints_its_reasoning_and_answer_then_a_summary_exit_1_when_one_failed(up, down, capsys):
    up.enqueue([
        chunk(reasoning="Columns think apart.", role=True), chunk(content="Up answers."),
        chunk(finish="stop", usage=deepseek_usage(prompt=7, completion=30, reasoning=12)), DONE,
    ])
    code = main(["compare", "Which server?", "--with", spec(up.base_url, model="m-up"),
                 "--with", spec(down, api_key=KEY)])
    out, err = capsys.readouterr()
    assert code == 1
    first, _, rest = out.partition("── 2 · ")
    second, _, table = rest.partition("\ncolumn  ")
    assert first == f"── 1 · openai:base_url={up.base_url},model=m-up · thinking on ──\nColumns think apart.\n\nUp answers.\n\n"
    assert second.startswith("openai:")
    assert f"Error: Could not connect to {down}" in second
    rows = ("column  " + table).splitlines()
    assert rows[0].split() == ["column", "backend", "/", "model", "/", "effort", "TTFT", "thinking",
                               "reasoning", "tok", "answer", "tok", "status"]
    assert rows[1].startswith("1 ") and rows[1].rstrip().endswith("answered")
    assert " ms " in rows[1] and " s " in rows[1]
    # Reported counts as they are: 12 of the 30 output tokens were reasoning.
    assert rows[1].split()[-3:] == ["12", "18", "answered"]
    assert rows[2].startswith("2 ") and f"error: Could not connect to {down}" in rows[2]
    assert KEY not in out + err  # the key given in a spec is never printed
    assert up.chat_requests[0].body["model"] == "m-up"


def test_every_column_answered_exits_0(up, capsys):
    with serve() as other:
        assert main(["compare", "hi", "--with", spec(up.base_url), "--with", spec(other.base_url)]) == 0
    out = capsys.readouterr().out
    assert out.count("You said: hi") == 2
    assert out.count("answered") == 2


def test_json_prints_every_event_with_its_column_then_a_summary(up, down, capsys):
    assert main(["compare", "hi", "--json", "--with", spec(up.base_url, model="m-up", reasoning_effort="high"),
                 "--with", spec(down)]) == 1
    out, err = capsys.readouterr()
    events = json_lines(out)
    *stream, summary = events
    assert {event["column"] for event in stream} == {1, 2}
    one = [event for event in stream if event["column"] == 1]
    assert "".join(e["text"] for e in one if e["type"] == "content") == "You said: hi"
    # The stop event carries the column's timings, as ask --json's does.
    *_, stop = one
    timing = stop.pop("timing")
    assert stop == {"column": 1, "type": "stop", "reason": "end_turn", "raw_reason": "stop"}
    assert set(timing) == {"first_token_ms", "first_reasoning_ms", "thinking_ms", "answer_ms"}
    assert isinstance(timing["first_token_ms"], int)
    (two,) = [event for event in stream if event["column"] == 2]
    assert (two["type"], two["kind"]) == ("error", "connection")
    assert summary["type"] == "summary"
    first, second = summary["columns"]
    assert (first["column"], first["status"], first["input_tokens"]) == (1, "complete", 12)
    # What each column ran with, as ask --save stores it for a turn.
    assert (first["backend"], first["model"], first["thinking"], first["effort"]) == ("openai", "m-up", "on", "high")
    assert (second["model"], second["thinking"], second["effort"]) == ("deepseek-v4-flash", "on", None)  # the default
    assert first["ttft_ms"] is not None
    assert (first["reasoning_tokens"], first["answer_tokens"], first["reasoning_tokens_estimated"]) == (25, 15, None)
    assert (second["column"], second["status"]) == (2, "error")
    assert second["error"]["title"] == f"Could not connect to {down}"
    assert f"Could not connect to {down}" in err  # errors go to stderr too, as with ask --json


def test_a_price_the_provider_reports_is_each_columns_cost(capsys):
    # OpenRouter puts what the request cost (credits = US dollars) in the last SSE message's
    # usage, beside the token counts (openrouter.ai/docs/use-cases/usage-accounting).
    priced = {**deepseek_usage(prompt=194, completion=2, reasoning=0), "cost": 0.0012,
              "cost_details": {"upstream_inference_cost": None}}
    with serve() as first, serve() as second:
        first.enqueue([chunk(content="Priced.", role=True), chunk(finish="stop", usage=priced), DONE])
        assert main(["compare", "hi", "--json", "--with", spec(first.base_url), "--with", spec(second.base_url)]) == 0
    *stream, summary = json_lines(capsys.readouterr().out)
    [usage] = [event for event in stream if event["type"] == "usage" and event["column"] == 1]
    assert usage["cost"] == 0.0012
    assert [row["cost"] for row in summary["columns"]] == [0.0012, None]  # the stand-in's default gives none


def test_the_columns_stream_at_the_same_time(capsys):
    # Column 1's server holds its answer until column 2's request has arrived: one column
    # after the other, the second request would only come once the first answer had ended.
    second_asked = threading.Event()
    hold = WaitFor(second_asked, seconds=10)
    with serve() as first, serve() as second:
        first.enqueue([chunk(reasoning="One starts."), hold, chunk(content="One ends.", finish="stop"), DONE])
        second.enqueue([SetEvent(second_asked), chunk(content="Two answers.", finish="stop"), DONE])
        assert main(["compare", "hi", "--json", "--with", spec(first.base_url), "--with", spec(second.base_url)]) == 0
    assert hold.results == [True]
    texts = [(e["column"], e["text"]) for e in json_lines(capsys.readouterr().out) if e["type"] == "content"]
    assert sorted(texts) == [(1, "One ends."), (2, "Two answers.")]


def test_a_profile_from_config_is_a_column(up, capsys):
    paths.config_path().parent.mkdir(parents=True, exist_ok=True)
    paths.config_path().write_text(
        f'[profiles.deep]\nbackend = "openai"\nbase_url = "{up.base_url}"\nmodel = "deep-model"\n', encoding="utf-8")
    assert main(["compare", "hi", "--with", "deep", "--with", spec(up.base_url)]) == 0
    out = capsys.readouterr().out
    assert "── 1 · deep · deep-model · thinking on ──" in out
    default_model = next(option.default for option in OpenAIBackend.options if option.name == "model")
    assert sorted(r.body["model"] for r in up.chat_requests) == sorted(["deep-model", default_model])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["hi", "--with", "openai"], "compare needs 2 to 4 columns, got 1"),
        (["hi", *["--with", "openai"] * 5], "compare needs 2 to 4 columns, got 5"),
        (["hi", "--with", "openai", "--with", "nope"], "'nope' is neither a profile nor a backend"),
        (["hi", "--with", "openai", "--with", "openai:max_tokens=lots"], "invalid value for max_tokens"),
        (["--with", "openai", "--with", "openai"], "no prompt"),
    ],
)
def test_usage_mistakes_exit_2_before_anything_is_sent(capsys, monkeypatch, args, says):
    monkeypatch.setattr("sys.stdin", None)
    assert main(["compare", *args]) == 2
    assert says in capsys.readouterr().err
