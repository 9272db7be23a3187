"""``thinkpane serve``: the flags it refuses, and the guards of the running server.

Refusals run in-process through ``main([...])`` (nothing listens). The guards are checked
against a real ``thinkpane serve`` process on a free loopback port, over HTTP (httpx) and
the websocket (aiohttp's client, the library textual-serve itself is built on): without
the password every request gets 401, with it the page and the websocket open; the
password never shows in the page or in what the server prints, and the app processes it
starts do not inherit it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.serve_helpers import NO_TEXTUAL_SERVE, Served, serve_env, start_serve, textual_serve_installed
from thinkpane.tui.cli.main import main

PASSWORD = "correct horse battery staple 7"
PASSWORD_VAR = "THINKPANE_TEST_PASSWORD"

needs_textual_serve = pytest.mark.skipif(not textual_serve_installed(), reason=NO_TEXTUAL_SERVE)


def basic(password: str, user: str = "me") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org", "localhost.example.org"])
def test_non_loopback_host_without_password_is_refused(host, capsys) -> None:
    assert main(["serve", "--host", host]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"Error: refusing to serve on {host!r} without a password" in err
    assert "--password-env" in err and "SSH tunnel" in err
    assert "Traceback" not in err


def test_password_variable_must_be_set(capsys, monkeypatch) -> None:
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--password-env", PASSWORD_VAR]) == 2
    err = capsys.readouterr().err
    assert f"Error: the environment variable {PASSWORD_VAR} is not set or is empty" in err


def test_password_env_takes_a_name_not_the_password(capsys, monkeypatch) -> None:
    assert main(["serve", "--password-env", "hunter2!"]) == 2
    err = capsys.readouterr().err
    assert "--password-env takes the NAME of an environment variable" in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org", "must be an http:// or https:// address"),
        ("example.org", "must be an http:// or https:// address"),
        ("https://me:secret@example.org", "must not contain a user name or password"),
        ("https://example.org/thinkpane", "without a path"),
    ],
)
def test_bad_public_url_is_refused(url, message, capsys) -> None:
    assert main(["serve", "--public-url", url]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("port", ["http", "70000", "-1"])
def test_bad_port_is_a_usage_error(port, capsys) -> None:
    assert main(["serve", "--port", port]) == 2
    assert "--port" in capsys.readouterr().err


@needs_textual_serve
def test_port_in_use_is_a_clear_error(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"Error: cannot listen on http://127.0.0.1:{port}" in err
    assert "Pick another --port" in err and "Traceback" not in err


def test_a_password_allows_a_non_loopback_host(capsys, monkeypatch) -> None:
    # 192.0.2.10 (TEST-NET-1) is no address of this machine: the checks pass, binding fails
    # locally, and nothing is sent anywhere.
    if not textual_serve_installed():
        pytest.skip(NO_TEXTUAL_SERVE)
    monkeypatch.setenv(PASSWORD_VAR, PASSWORD)
    assert main(["serve", "--host", "192.0.2.10", "--port", "8765", "--password-env", PASSWORD_VAR]) == 1
    err = capsys.readouterr().err
    assert "refusing" not in err
    assert "Warning: without TLS the password (and every conversation) crosses the network in clear" in err
    assert "Error: cannot listen on http://192.0.2.10:8765" in err
    assert PASSWORD_VAR not in os.environ, "app processes must not inherit the password"
    assert PASSWORD not in err


# --------------------------------------------------------------------------- the running server


def websocket_status(url: str, headers: dict[str, str]) -> int:
    """The websocket handshake's answer: 101 when it opened (then closed again at once)."""
    import aiohttp

    async def connect() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url.replace("http://", "ws://") + "/ws?width=80&height=24",
                                              headers=headers) as ws:
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    return asyncio.run(connect())


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            children = (task / "children").read_text().split()
            found += [int(child) for child in children]
            todo += [int(child) for child in children]
    return found


@pytest.fixture
def served_with_password(tmp_path) -> Served:
    served = start_serve("--password-env", PASSWORD_VAR, env=serve_env(**{PASSWORD_VAR: PASSWORD}), cwd=tmp_path)
    yield served
    served.stop()


@needs_textual_serve
def test_password_guards_every_http_request(served_with_password) -> None:
    url = served_with_password.url
    with httpx.Client(trust_env=False, timeout=30) as client:
        for path in ("/", "/static/js/textual.js", "/download/0123456789abcdef"):
            for headers in ({}, basic("wrong"), basic(PASSWORD.upper()), {"Authorization": "Basic !!!"},
                            {"Authorization": f"Bearer {PASSWORD}"}):
                response = client.get(url + path, headers=headers)
                assert response.status_code == 401, (path, headers, response.status_code)
                assert response.headers["WWW-Authenticate"].startswith('Basic realm="Thinkpane"')
                assert PASSWORD not in response.text
        page = client.get(url + "/", headers=basic(PASSWORD))
        assert page.status_code == 200
        assert client.get(url + "/static/js/textual.js", headers=basic(PASSWORD, user="")).status_code == 200
    html = page.text
    assert PASSWORD not in html and "Basic" not in html
    assert f'data-session-websocket-url="{url.replace("http://", "ws://")}/ws"' in html
    # The page loads nothing from anywhere but this server (textual-serve's links Google Fonts).
    assert "googleapis" not in html
    assert "<title>Thinkpane</title>" in html

    output = served_with_password.stop()
    assert PASSWORD not in output
    assert "Warning: without TLS the password" in output and "SSH tunnel" in output


@needs_textual_serve
def test_password_guards_the_websocket_and_apps_do_not_inherit_it(served_with_password) -> None:
    url = served_with_password.url
    assert websocket_status(url, {}) == 401
    assert websocket_status(url, basic("wrong")) == 401

    import aiohttp

    async def open_app_and_look_at_its_environment() -> dict[int, bytes]:
        async with aiohttp.ClientSession() as session, session.ws_connect(
            url.replace("http://", "ws://") + "/ws?width=80&height=24", headers=basic(PASSWORD)
        ) as ws:
            # The app draws its first frame once it runs: its process exists by then.
            while (await asyncio.wait_for(ws.receive(), 60)).type != aiohttp.WSMsgType.BINARY:
                pass
            environments = {}
            for pid in descendants(served_with_password.process.pid):
                try:
                    environments[pid] = Path(f"/proc/{pid}/environ").read_bytes()
                except FileNotFoundError:
                    pass
            await ws.close()
            return environments

    environments = asyncio.run(open_app_and_look_at_its_environment())
    assert environments, "no app process was started"
    data_dir = serve_env()["THINKPANE_DATA_DIR"].encode()
    assert all(PASSWORD_VAR.encode() not in env and PASSWORD.encode() not in env for env in environments.values())
    assert any(b"THINKPANE_DATA_DIR=" + data_dir in env for env in environments.values()), "config env not passed on"
    output = served_with_password.stop()
    assert PASSWORD not in output and "Stopped." in output
    # Stopping the server ends the app processes it started.
    deadline = time.monotonic() + 30
    while alive := [pid for pid in environments if running(pid)]:
        assert time.monotonic() < deadline, f"app processes left running: {alive}"
        time.sleep(0.05)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited


@needs_textual_serve
def test_loopback_server_refuses_other_host_names_and_foreign_websockets(tmp_path) -> None:
    served = start_serve(env=serve_env(), cwd=tmp_path)
    try:
        url = served.url
        with httpx.Client(trust_env=False, timeout=30) as client:
            assert client.get(url + "/").status_code == 200
            assert client.get(url + "/", headers={"Host": f"localhost:{served.port}"}).status_code == 200
            # DNS rebinding: a site's own name pointed at 127.0.0.1
            rebound = client.get(url + "/", headers={"Host": f"attacker.example:{served.port}"})
            assert rebound.status_code == 421
            assert f"Open http://127.0.0.1:{served.port}" in rebound.text
            assert client.get(url + "/", headers={"Host": "[not a host"}).status_code == 421
        # Any web page may try to open a websocket to 127.0.0.1: only this server's own page may.
        assert websocket_status(url, {"Origin": "http://attacker.example"}) == 403
        assert websocket_status(url, {"Origin": f"http://localhost:{served.port}"}) == 403
        assert websocket_status(url, {"Origin": url}) == 101
    finally:
        served.stop()


@needs_textual_serve
def test_the_page_points_back_at_the_address_the_browser_used(tmp_path) -> None:
    served = start_serve(env=serve_env(), cwd=tmp_path)
    try:
        with httpx.Client(trust_env=False, timeout=30) as client:
            # An SSH tunnel from another port (ssh -L 9000:127.0.0.1:PORT): no flag needed.
            page = client.get(served.url + "/", headers={"Host": "localhost:9000"}).text
        assert 'data-session-websocket-url="ws://localhost:9000/ws"' in page
        assert 'href="http://localhost:9000/static/css/xterm.css"' in page
    finally:
        served.stop()


@needs_textual_serve
def test_public_url_behind_a_tls_proxy(tmp_path) -> None:
    served = start_serve("--public-url", "https://chat.example.org/", env=serve_env(), cwd=tmp_path)
    try:
        with httpx.Client(trust_env=False, timeout=30) as client:
            # The proxy passes its own name on; the page uses the public address.
            page = client.get(served.url + "/", headers={"Host": "chat.example.org"})
        assert page.status_code == 200
        assert 'data-session-websocket-url="wss://chat.example.org/ws"' in page.text
        assert websocket_status(served.url, {"Origin": "https://chat.example.org"}) == 101
        assert websocket_status(served.url, {"Origin": served.url}) == 403
    finally:
        output = served.stop()
    assert f"Serving Thinkpane on {served.url}, for browsers at https://chat.example.org:" in output
