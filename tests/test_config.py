"""Settings: every precedence layer, the file on disk (mode, atomicity, secrets), bad files."""

from __future__ import annotations

import os
import stat

import pytest
import tomllib
from pydantic import SecretStr

from thinkpane.backends.errors import BackendError, ThinkpaneError
from thinkpane.backends.secrets import Secret
from thinkpane.tui.cli.main import main
from thinkpane.tui.core import paths
from thinkpane.tui.core.config import (
    ConfigFileError,
    Settings,
    apply_session_overrides,
    backend_options,
    config_exists,
    load_settings,
    save_settings,
)

KEY = "sk-config-test-0123456789abcdef"


def write_config(text: str) -> None:
    path = paths.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def read_config() -> dict:
    return tomllib.loads(paths.config_path().read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- layers


def test_missing_file_gives_defaults_and_counts_as_first_launch() -> None:
    settings = load_settings()
    assert not config_exists()
    assert settings.backend == "local"
    assert settings.show_reasoning is True
    assert settings.backends == {}
    assert settings.load_warnings == []


def test_file_layer_is_read() -> None:
    write_config(
        'backend = "openai"\ntheme = "nord"\nshow_reasoning = false\n'
        '[keymap]\nquit = "ctrl+q"\n[backends.openai]\nbase_url = "http://file/v1"\n'
    )
    settings = load_settings()
    assert config_exists()
    assert (settings.backend, settings.theme, settings.show_reasoning) == ("openai", "nord", False)
    assert settings.keymap == {"quit": "ctrl+q"}
    assert settings.backends["openai"]["base_url"] == "http://file/v1"


def test_dotenv_beats_file_and_environment_beats_dotenv(monkeypatch, isolated_home) -> None:
    write_config('theme = "file"\nbackend = "file"\n[backends.openai]\nmodel = "file-model"\nbase_url = "http://file/v1"\n')
    (isolated_home / ".env").write_text(
        "THINKPANE_THEME=dotenv\nTHINKPANE_BACKEND=dotenv\nTHINKPANE_BACKENDS__OPENAI__MODEL=dotenv-model\n"
    )
    monkeypatch.setenv("THINKPANE_BACKEND", "env")
    settings = load_settings()
    assert settings.theme == "dotenv"  # .env over the file
    assert settings.backend == "env"  # the environment over .env
    # Nested keys merge: .env replaces one option, the file's others stay.
    assert settings.backends["openai"] == {"model": "dotenv-model", "base_url": "http://file/v1"}


def test_session_overrides_beat_everything_and_are_not_saved(monkeypatch) -> None:
    write_config('backend = "openai"\n[backends.openai]\nmodel = "file-model"\n')
    monkeypatch.setenv("THINKPANE_BACKENDS__OPENAI__MODEL", "env-model")
    settings = load_settings()
    apply_session_overrides(settings, backend="openai", options={"model": "flag-model", "api_key": Secret(KEY)})
    assert backend_options(settings, "openai")["model"] == "flag-model"
    settings.theme = "changed"  # a real change made by the app
    save_settings(settings)
    on_disk = read_config()
    assert on_disk["theme"] == "changed"
    assert on_disk["backends"]["openai"] == {"model": "file-model"}  # neither env nor flag saved
    assert KEY not in paths.config_path().read_text()


def test_option_env_var_beats_the_file_but_not_thinkpane_env(monkeypatch) -> None:
    write_config(f'[backends.openai]\napi_key = "{KEY}-file"\nbase_url = "http://file/v1"\n')
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY + "-deepseek")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1")
    options = backend_options(load_settings(), "openai")
    # The file's values give way, so resolve_options reads DEEPSEEK_API_KEY / OPENAI_BASE_URL.
    assert "api_key" not in options and "base_url" not in options
    from thinkpane.backends import registry

    backend = registry.create("openai", options)
    assert backend.settings["api_key"].get() == KEY + "-deepseek"
    assert backend.base_url == "http://env/v1"

    monkeypatch.setenv("THINKPANE_BACKENDS__OPENAI__API_KEY", KEY + "-thinkpane")
    options = backend_options(load_settings(), "openai")
    assert options["api_key"] == Secret(KEY + "-thinkpane")


def test_option_env_var_in_dotenv_beats_the_file_and_real_env_beats_dotenv(monkeypatch, isolated_home) -> None:
    write_config(f'[backends.openai]\napi_key = "{KEY}-file"\n')
    (isolated_home / ".env").write_text(f"DEEPSEEK_API_KEY={KEY}-dotenv\n")
    assert backend_options(load_settings(), "openai")["api_key"] == Secret(KEY + "-dotenv")
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY + "-env")
    assert "api_key" not in backend_options(load_settings(), "openai")  # resolve_options reads the env


def test_cli_flag_beats_option_env_var(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1")
    options = backend_options(load_settings(), "openai", {"base_url": "http://flag/v1"})
    assert options["base_url"] == "http://flag/v1"


def test_unknown_keys_warn_but_load(capsys) -> None:
    write_config('theme = "nord"\ncolour = "blue"\n[backends.openai]\nbase_urll = "typo"\n')
    settings = load_settings()
    assert settings.theme == "nord"
    assert any("'colour'" in warning for warning in settings.load_warnings)
    backend_options(settings, "openai")
    assert any("'base_urll'" in warning for warning in settings.load_warnings)
    assert capsys.readouterr().err == ""  # nothing printed behind the TUI's back


def test_warnings_name_the_file_and_line() -> None:
    write_config(
        'system_prompt = """Be brief.\ncolour = "inside a string"\n"""\n'
        "# colour = 'in a comment'\n"
        'colour = "blue"\n'
        "[backends.openai]\n"
        'base_urll = "typo"\n'
        "[backends.bedrock]\n"
        'extras = { regionn = "x" }\n'
    )
    path = paths.config_path()
    settings = load_settings()
    assert settings.load_warnings == [f"{path}:5: unknown setting 'colour' ignored"]
    backend_options(settings, "openai")
    backend_options(settings, "bedrock")
    assert settings.load_warnings[1:] == [
        f"{path}:7: backend openai: unknown option 'base_urll' ignored",
        f"{path}:9: backend bedrock: unknown option 'extras' ignored",
    ]


def test_a_wrong_type_names_its_line() -> None:
    write_config('theme = "nord"\n\n[keymap]\n"chat.new" = 5\n')
    with pytest.raises(ConfigFileError) as caught:
        load_settings()
    assert f"Fix it in {paths.config_path()}:4 " in caught.value.hint


# --------------------------------------------------------------------------- writing


def test_save_writes_0600_file_in_0700_dir_atomically() -> None:
    settings = load_settings()
    settings.backend = "openai"
    path = save_settings(settings)
    assert path == paths.config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_config() == {"backend": "openai"}
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left
    assert config_exists()


def test_save_keeps_what_the_file_had_and_round_trips() -> None:
    write_config('theme = "nord"\n[backends.bedrock]\nregion = "eu-west-1"\n')
    settings = load_settings()
    settings.backends.setdefault("openai", {})["base_url"] = "http://x/v1"
    settings.system_prompt = "Be brief."
    save_settings(settings)
    again = load_settings()
    assert again.theme == "nord"
    assert again.backends == {"bedrock": {"region": "eu-west-1"}, "openai": {"base_url": "http://x/v1"}}
    assert again.system_prompt == "Be brief."


def test_values_from_the_environment_are_not_saved(monkeypatch, isolated_home) -> None:
    monkeypatch.setenv("THINKPANE_BACKENDS__OPENAI__API_KEY", KEY)
    (isolated_home / ".env").write_text("THINKPANE_THEME=from-dotenv\n")
    settings = load_settings()
    settings.show_reasoning = False
    save_settings(settings)
    text = paths.config_path().read_text()
    assert KEY not in text and "from-dotenv" not in text
    assert read_config() == {"show_reasoning": False}


def test_secret_is_saved_only_when_the_caller_keeps_it() -> None:
    settings = load_settings()
    settings.backends["openai"] = {"api_key": SecretStr(KEY), "model": "m"}
    save_settings(settings, keep_secrets=False)
    assert read_config() == {"backends": {"openai": {"model": "m"}}}

    settings = load_settings()
    settings.backends["openai"]["api_key"] = KEY
    save_settings(settings, keep_secrets=True)
    assert read_config()["backends"]["openai"]["api_key"] == KEY  # the value, not stars
    # Loaded back it is a SecretStr again, and an unrelated save keeps it.
    settings = load_settings()
    assert isinstance(settings.backends["openai"]["api_key"], SecretStr)
    settings.theme = "x"
    save_settings(settings, keep_secrets=False)
    assert read_config()["backends"]["openai"]["api_key"] == KEY


def test_secrets_never_in_repr_str_or_dump_json() -> None:
    write_config(f'[backends.openai]\napi_key = "{KEY}"\n[backends.opensearch]\npassword = "hunter2-pass"\n')
    settings = load_settings()
    settings.backends["bedrock"] = {"bearer_token": "plain-token-assigned"}  # assigned as str
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert KEY not in text
        assert "hunter2-pass" not in text
    assert "plain-token-assigned" not in repr(settings)
    options = backend_options(settings, "openai")
    assert isinstance(options["api_key"], Secret) and options["api_key"].get() == KEY


# --------------------------------------------------------------------------- bad files


def test_corrupt_toml_names_file_line_column_and_fix() -> None:
    write_config('theme = "nord"\nbackend = = "x"\n')
    with pytest.raises(ConfigFileError) as caught:
        load_settings()
    error = caught.value
    # A Thinkpane error (the CLI prints it, exit 2), but not a backend's.
    assert isinstance(error, ThinkpaneError) and not isinstance(error, BackendError)
    assert str(paths.config_path()) in error.title
    assert "line 2, column" in error.hint
    assert "delete" in error.hint and "recreates" in error.hint


def test_wrong_type_is_a_config_file_error() -> None:
    write_config('show_reasoning = "maybe"\n')
    with pytest.raises(ConfigFileError) as caught:
        load_settings()
    assert "show_reasoning" in caught.value.title
    assert str(paths.config_path()) in caught.value.hint


def test_config_override_variable_points_at_another_file(monkeypatch, isolated_home) -> None:
    other = isolated_home / "elsewhere" / "my.toml"
    monkeypatch.setenv("THINKPANE_CONFIG", str(other))
    settings = load_settings()
    settings.theme = "gruvbox"
    assert save_settings(settings) == other
    assert tomllib.loads(other.read_text())["theme"] == "gruvbox"


def test_cli_prints_corrupt_config_cleanly_and_exits_2(capsys) -> None:
    write_config("[backends\n")
    assert main(["ask", "hello"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: Config file ")
    assert "line 1, column" in err and "recreates" in err
    assert "Traceback" not in err


def test_settings_can_be_built_directly_for_tests_and_screens() -> None:
    settings = Settings(backend="scripted", theme="nord")
    assert settings.backend == "scripted"
    path = save_settings(settings)
    assert tomllib.loads(path.read_text()) == {"backend": "scripted", "theme": "nord"}
    assert os.stat(path).st_mode & 0o077 == 0


def test_save_keeps_edits_made_meanwhile_and_unknown_keys() -> None:
    write_config('theme = "nord"\nfuture_setting = 1\n')
    settings = load_settings()
    # The user edits the file in an editor while the app runs...
    write_config('theme = "nord"\nfuture_setting = 1\nsystem_prompt = "Edited by hand."\n')
    settings.backend = "openai"  # ...and the app saves a change of its own.
    save_settings(settings)
    assert read_config() == {
        "theme": "nord", "future_setting": 1, "system_prompt": "Edited by hand.", "backend": "openai",
    }


def test_save_refuses_to_overwrite_a_file_broken_meanwhile() -> None:
    settings = load_settings()
    write_config("half = [written\n")
    settings.theme = "x"
    with pytest.raises(ConfigFileError):
        save_settings(settings)
    assert paths.config_path().read_text() == "half = [written\n"


# --------------------------------------------------------------------------- validated after the first frame


def test_read_settings_defers_validation_only_when_nothing_needs_converting(monkeypatch) -> None:
    from thinkpane.tui.core.config import DeferredSettings, read_settings

    write_config('backend = "openai"\ntheme = "nord"\n[keymap]\nchat.new = "f5"\n'
                 f'[backends.openai]\napi_key = "{KEY}"\nmax_tokens = 7\n')
    deferred = read_settings()
    assert isinstance(deferred, DeferredSettings) and not deferred.is_validated
    # The same values as load_settings gives, before and after validating.
    loaded = load_settings()
    for settings in (deferred, deferred.validated()):
        assert (settings.backend, settings.theme, settings.keymap) == ("openai", "nord", {"chat.new": "f5"})
        assert backend_options(settings, "openai") == backend_options(loaded, "openai")
    assert isinstance(deferred.backends["openai"]["api_key"], SecretStr)  # validated: wrapped
    assert KEY not in repr(deferred)

    # A string for a flag must be converted (and may be refused): validated at once.
    monkeypatch.setenv("THINKPANE_SHOW_REASONING", "false")
    settings = read_settings()
    assert isinstance(settings, Settings) and settings.show_reasoning is False
    monkeypatch.setenv("THINKPANE_SHOW_REASONING", "maybe")
    with pytest.raises(ConfigFileError):
        read_settings()


def test_deferred_settings_validate_when_changed_and_save_like_settings() -> None:
    from thinkpane.tui.core.config import read_settings

    write_config('theme = "nord"\ncolour = "blue"\n')
    settings = read_settings()
    assert settings.load_warnings == [f"{paths.config_path()}:2: unknown setting 'colour' ignored"]
    settings.backend = "openai"  # a change: validated first, then set on the Settings
    assert settings.is_validated and settings.validated().backend == "openai"
    save_settings(settings)
    assert read_config() == {"theme": "nord", "colour": "blue", "backend": "openai"}


def test_a_whole_table_from_the_environment_is_json_and_single_keys_go_over_it(monkeypatch) -> None:
    monkeypatch.setenv("THINKPANE_BACKENDS", '{"openai": {"model": "json-model", "base_url": "http://json/v1"}}')
    monkeypatch.setenv("thinkpane_backends__openai__model", "single-model")  # names are case-insensitive
    settings = load_settings()
    assert settings.backends["openai"] == {"model": "single-model", "base_url": "http://json/v1"}
    monkeypatch.setenv("THINKPANE_KEYMAP", "chat.new=f5")
    with pytest.raises(ConfigFileError, match="keymap"):
        load_settings()


def test_reading_settings_imports_no_pydantic() -> None:
    # Launching the app reads them on its way to the first frame; pydantic comes after it.
    import subprocess
    import sys

    code = ("import sys\nfrom thinkpane.tui.core.config import read_settings\nread_settings()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_value_to_convert_or_out_of_bounds_is_validated_at_once_naming_its_line() -> None:
    from thinkpane.tui.core.config import DeferredSettings, read_settings

    write_config('theme = "nord"\nstall_notice_s = 45\n')
    deferred = read_settings()  # a number above 0: nothing to refuse, validated later
    assert isinstance(deferred, DeferredSettings) and deferred.stall_notice_s == 45
    assert deferred.validated().stall_notice_s == 45.0
    for line in ("stall_notice_s = 0", 'stall_notice_s = "soon"', 'show_reasoning = "maybe"'):
        write_config(f'theme = "nord"\n{line}\n')
        with pytest.raises(ConfigFileError) as caught:
            read_settings()
        assert f"Fix it in {paths.config_path()}:2 " in caught.value.hint, line


def test_deferred_settings_hold_secrets_masked_before_validation(capsys) -> None:
    from thinkpane.tui.core.config import DeferredSettings, read_settings

    write_config(f'backend = "openai"\n[backends.openai]\napi_key = "{KEY}"\nmodel = "m"\n')
    deferred = read_settings()
    assert isinstance(deferred, DeferredSettings)
    held = deferred.backends["openai"]["api_key"]
    print(held, repr(held), deferred.backends, deferred.backends["openai"])
    assert not deferred.is_validated  # what was printed is the value held before validation
    assert KEY not in capsys.readouterr().out
    assert backend_options(deferred, "openai")["api_key"] == Secret(KEY)  # still the key for the backend
    assert deferred.backends["openai"]["model"] == "m"  # only secrets are wrapped
    validated = deferred.validated()
    assert isinstance(validated.backends["openai"]["api_key"], SecretStr)
    assert validated.backends["openai"]["api_key"].get_secret_value() == KEY
    print(deferred, deferred.backends)
    assert KEY not in capsys.readouterr().out
