"""Backend option values are checked wherever they are read: flags, config.toml, the environment.

A value that does not fit (a zero timeout, a negative token limit, a header without a colon,
an empty or malformed URL, a word for a number) is refused with what is wrong and where to fix
it, exit 2, before anything is sent: never sent as is, dropped, or replaced by a default.
The setup form's inline errors come from the same check (tests/test_tui_setup.py).
"""

from __future__ import annotations

import pytest

from tests.servers.openai_sse import serve
from thinkpane.tui.cli.main import main
from thinkpane.tui.core import paths


@pytest.fixture
def server():
    with serve() as running:
        yield running


def write_config(text: str) -> str:
    path = paths.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


# --------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--timeout-s", "0", "expected a number greater than 0"),
        ("--timeout-s", "-1", "expected a number greater than 0"),
        ("--max-tokens", "-3", "expected a whole number of at least 1"),
        ("--temperature", "nan", "expected a number from 0 to 2"),
        ("--extra-headers", "garbage", "expected 'Name: value' headers"),
        ("--base-url", "", "the value is empty; leave --base-url out to use the default (https://api.deepseek.com/v1)"),
        ("--base-url", "garbage", "expected an http:// or https:// URL"),
    ],
)
def test_a_flag_value_that_does_not_fit_is_a_usage_error(server, capsys, flag, value, expected) -> None:
    code = main(["ask", "--backend", "openai", "--base-url", server.base_url, flag, value, "hi"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"argument {flag}: {expected}" in err
    assert "Traceback" not in err
    assert server.chat_requests == []  # nothing was sent


def test_a_context_window_of_zero_is_a_usage_error(capsys) -> None:
    assert main(["ask", "--n-ctx", "0", "hi"]) == 2  # the default backend, local
    assert "argument --n-ctx: expected a whole number of at least 1" in capsys.readouterr().err


def test_backend_flags_work_before_the_command(server, capsys) -> None:
    assert main(["--backend", "openai", "--base-url", server.base_url, "--max-tokens", "7", "ask", "hi"]) == 0
    assert capsys.readouterr().out == "You said: hi\n"
    assert server.chat_requests[0].body["max_tokens"] == 7


def test_a_flag_after_the_command_wins_over_the_same_flag_before_it(server, capsys) -> None:
    args = ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "ask", "--base-url", server.base_url, "hi"]
    assert main(args) == 0
    assert capsys.readouterr().out == "You said: hi\n"


def test_flags_before_the_command_are_checked_too(server, capsys) -> None:
    assert main(["--backend", "openai", "--base-url", server.base_url, "--timeout-s", "0", "ask", "hi"]) == 2
    assert "argument --timeout-s: expected a number greater than 0" in capsys.readouterr().err
    assert server.chat_requests == []


# --------------------------------------------------------------------------- config.toml and the environment


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('temperature = "hot"', "Expected a number from 0 to 2."),
        ("max_tokens = 3.5", "Expected a whole number of at least 1."),
        ("timeout_s = 0", "Expected a number greater than 0."),
        ('extra_headers = ["garbage"]', "Expected 'Name: value' headers"),
    ],
)
def test_a_config_value_that_does_not_fit_exits_2_naming_the_file_and_line(server, capsys, line, expected) -> None:
    path = write_config(f'backend = "openai"\n\n[backends.openai]\nbase_url = "{server.base_url}"\n{line}\n')
    assert main(["ask", "hi"]) == 2
    err = capsys.readouterr().err
    option = line.split(" ")[0]
    assert err.startswith(f"Error: {path}:5: invalid value for the openai option '{option}'\n")
    assert expected in err and "remove the line to use the default" in err
    assert server.chat_requests == []


def test_an_empty_value_in_the_config_file_is_not_read_as_the_default(capsys) -> None:
    path = write_config('backend = "openai"\n[backends.openai]\nbase_url = ""\n')
    assert main(["ask", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {path}:3: the openai option 'base_url' is empty\n")
    assert "Remove the line to use the default" in err


def test_a_bad_value_in_an_options_environment_variable_names_the_variable(server, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "garbage")
    assert main(["ask", "--backend", "openai", "hi"]) == 2
    err = capsys.readouterr().err
    assert "the environment variable OPENAI_BASE_URL: invalid value for the openai option 'base_url'" in err
    # A flag wins over the variable, so the variable is not in the way then.
    assert main(["ask", "--backend", "openai", "--base-url", server.base_url, "hi"]) == 0


def test_a_bad_value_from_a_thinkpane_variable_names_that_variable(server, capsys, monkeypatch) -> None:
    monkeypatch.setenv("THINKPANE_BACKENDS__OPENAI__TOP_P", "2")
    assert main(["ask", "--backend", "openai", "--base-url", server.base_url, "hi"]) == 2
    err = capsys.readouterr().err
    assert "THINKPANE_BACKENDS__OPENAI__TOP_P (in the environment or .env): invalid value for the openai option 'top_p'" in err
    assert "Expected a number from 0 to 1" in err


def test_launching_the_app_with_a_bad_config_value_exits_2_before_the_screen_opens(capsys, monkeypatch) -> None:
    from thinkpane.tui.app import ThinkpaneApp

    launched: list[ThinkpaneApp] = []
    monkeypatch.setattr(ThinkpaneApp, "run", lambda self, *a, **k: launched.append(self))
    path = write_config('backend = "openai"\n[backends.openai]\nbase_url = "http://127.0.0.1:9/v1"\nmax_tokens = -3\n')
    assert main([]) == 2
    assert f"Error: {path}:4: invalid value for the openai option 'max_tokens'" in capsys.readouterr().err
    assert launched == []
