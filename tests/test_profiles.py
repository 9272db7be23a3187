"""Profiles (config.toml ``[profiles.NAME]``) and backend specs: what they resolve to, what a
mistake in them says (with the file and line), and ``--profile`` on ``ask`` and the app."""

from __future__ import annotations

import pytest

from tests.servers.openai_sse import serve
from thinkpane.backends.secrets import Secret
from thinkpane.tui.cli.main import build_parser, main
from thinkpane.tui.core import paths
from thinkpane.tui.core.config import ConfigFileError, load_settings
from thinkpane.tui.core.profiles import ChoiceError, parse_spec, profile_values, resolve_profile

CONFIG = """\
backend = "openai"

[backends.openai]
base_url = "http://section.example/v1"
model = "section-model"

[profiles.fast]
backend = "openai"
model = "fast-model"
max_tokens = 256

[profiles.deep]
backend = "openai"
model = "deep-model"
colour = "blue"
"""


def write_config(text: str) -> str:
    path = paths.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


# --------------------------------------------------------------------------- resolving


def test_a_profile_lays_its_values_over_its_backends_section_and_flags_over_both() -> None:
    write_config(CONFIG)
    settings = load_settings()
    choice = resolve_profile(settings, "fast")
    assert (choice.backend, choice.label, choice.profile) == ("openai", "fast", "fast")
    assert choice.options["base_url"] == "http://section.example/v1"  # from [backends.openai]
    assert (choice.options["model"], choice.options["max_tokens"]) == ("fast-model", 256)
    assert resolve_profile(settings, "fast", {"model": "flag-model"}).options["model"] == "flag-model"


def test_an_option_the_backend_does_not_declare_is_a_warning_with_its_line() -> None:
    path = write_config(CONFIG)
    settings = load_settings()
    backend, values, warnings = profile_values(settings, "deep")
    assert (backend, values) == ("openai", {"model": "deep-model"})
    assert warnings == [
        f"{path}:{line_of(CONFIG, 'colour')}: profile 'deep': the openai backend has no option 'colour'; ignored"
    ]
    assert warnings[0] in settings.load_warnings  # the app shows it with the others


@pytest.mark.parametrize(
    ("profile", "needle", "title", "hint"),
    [
        ('[profiles.bad]\nmodel = "m"\n', "[profiles.bad]", "profile 'bad' names no backend",
         'Add backend = "NAME" to [profiles.bad]'),
        ('[profiles.bad]\nbackend = "openia"\n', "openia", "profile 'bad': unknown backend 'openia'",
         "Choose one of:"),
        ('[profiles.bad]\nbackend = "openai"\nmax_tokens = 0\n', "max_tokens = 0",
         "invalid value for 'max_tokens' in profile 'bad'", "Expected a whole number of at least 1"),
        ('[profiles.bad]\nbackend = "openai"\nmodel = ""\n', 'model = ""',
         "'model' in profile 'bad' is empty", "Remove the line"),
    ],
)
def test_a_bad_profile_names_the_file_and_line(profile, needle, title, hint) -> None:
    text = CONFIG + "\n" + profile
    path = write_config(text)
    with pytest.raises(ConfigFileError) as caught:
        profile_values(load_settings(), "bad")
    assert caught.value.title == f"{path}:{line_of(text, needle)}: {title}"
    assert hint in caught.value.hint


def test_a_profile_that_is_not_a_table_is_a_config_file_error_with_its_line() -> None:
    text = 'backend = "openai"\n\n[profiles]\nfast = "openai"\n'
    path = write_config(text)
    with pytest.raises(ConfigFileError) as caught:
        load_settings()
    assert caught.value.title == "Invalid setting 'profiles'"
    assert f"{path}:4" in caught.value.hint


def test_an_unknown_profile_lists_the_ones_there_are() -> None:
    write_config(CONFIG)
    with pytest.raises(ChoiceError) as caught:
        profile_values(load_settings(), "fats")
    assert caught.value.title == "There is no profile 'fats'"
    assert "Profiles: deep, fast." in caught.value.hint


# --------------------------------------------------------------------------- specs


def test_a_spec_is_a_profile_a_backend_or_backend_key_values() -> None:
    write_config(CONFIG)
    settings = load_settings()
    assert parse_spec(settings, "fast").options["model"] == "fast-model"
    assert parse_spec(settings, "openai").options["model"] == "section-model"
    choice = parse_spec(settings, "openai:base_url=http://127.0.0.1:8080/v1, model=a,max_tokens=99,api_key=sk-spec-secret")
    assert choice.options["base_url"] == "http://127.0.0.1:8080/v1"
    assert (choice.options["model"], choice.options["max_tokens"]) == ("a", 99)
    assert isinstance(choice.options["api_key"], Secret)
    assert "sk-spec-secret" not in choice.label and "api_key=***" in choice.label


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("nope", "'nope' is neither a profile nor a backend"),
        ("openai:model", "'model' is not key=value"),
        ("openai:colour=red", "the openai backend has no option 'colour'"),
        ("openai:max_tokens=lots", "invalid value for max_tokens"),
        ("openai:model=", "model has no value"),
    ],
)
def test_a_bad_spec_is_a_usage_error(spec, says) -> None:
    write_config(CONFIG)
    with pytest.raises(ChoiceError) as caught:
        parse_spec(load_settings(), spec)
    assert says in caught.value.title
    assert caught.value.kind == "usage"


# --------------------------------------------------------------------------- --profile


def test_ask_with_a_profile_sends_its_model_to_its_server(capsys) -> None:
    with serve() as server:
        write_config(CONFIG.replace("http://section.example/v1", server.base_url))
        assert main(["ask", "--profile", "fast", "hi"]) == 0
        assert server.chat_requests[0].body["model"] == "fast-model"
        assert server.chat_requests[0].body["max_tokens"] == 256
        assert main(["ask", "--profile", "fast", "--model", "flag-model", "hi"]) == 0
        assert server.chat_requests[1].body["model"] == "flag-model"  # a flag beats the profile
    assert capsys.readouterr().out.count("You said: hi") == 2


def test_ask_with_a_profile_prints_its_warnings(capsys) -> None:
    with serve() as server:
        path = write_config(CONFIG.replace("http://section.example/v1", server.base_url))
        assert main(["ask", "--profile", "deep", "hi"]) == 0
    err = capsys.readouterr().err
    assert f"Warning: {path}:{line_of(CONFIG, 'colour')}: profile 'deep'" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["ask", "--profile", "fats", "hi"], "There is no profile 'fats'"),
        (["--profile", "fats"], "There is no profile 'fats'"),
        (["ask", "--profile", "fast", "--backend", "openai", "hi"], "give --profile or --backend, not both"),
    ],
)
def test_a_profile_mistake_on_the_command_line_exits_2(capsys, argv, says) -> None:
    write_config(CONFIG)
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_launching_with_a_bad_profile_names_its_line_and_exits_2(capsys) -> None:
    text = CONFIG + '\n[profiles.bad]\nbackend = "openai"\ntemperature = "hot"\n'
    path = write_config(text)
    assert main(["--profile", "bad"]) == 2
    assert f"{path}:{line_of(text, 'hot')}: invalid value for 'temperature' in profile 'bad'" in capsys.readouterr().err


def test_launching_with_a_profile_uses_it_for_the_session_only(monkeypatch) -> None:
    from thinkpane.tui.app import ThinkpaneApp

    text = CONFIG.replace("http://section.example/v1", "http://127.0.0.1:9/v1")  # local: no API key needed
    write_config(text.replace('backend = "openai"\n\n[backends', 'backend = "local"\n\n[backends', 1))
    seen = {}

    def run(app) -> None:
        seen["backend"], seen["options"] = app.settings.backend, dict(app.settings.backends["openai"])

    monkeypatch.setattr(ThinkpaneApp, "run", run)
    assert main(["--profile", "fast"]) == 0
    assert seen["backend"] == "openai"
    assert (seen["options"]["model"], seen["options"]["max_tokens"]) == ("fast-model", 256)
    assert 'backend = "local"' in paths.config_path().read_text()  # nothing saved


def test_the_aws_profile_of_bedrock_is_aws_profile_now_that_profile_names_ours() -> None:
    from thinkpane.backends.bedrock import BedrockBackend

    args = build_parser("ask", BedrockBackend).parse_args(["ask", "--aws-profile", "work", "--profile", "fast", "hi"])
    assert (args.opt__profile, args.profile) == ("work", "fast")
