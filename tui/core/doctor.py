"""``thinkpane doctor``: is a backend set up right, and how does its reasoning arrive?

For each backend asked about (the configured one by default) it runs four checks, each
``ok``, ``warn``, ``fail`` or ``skip`` with a message and, when something is wrong, a hint
naming real flags:

1. **configuration**: the options resolve and the backend builds (the same path as chatting:
   ``config.backend_options`` then ``registry.create``);
2. **credentials**: where each credential comes from (``Backend.credentials``), never its value;
3. **reachability**: a TCP connection to the backend's endpoint and, for https, a TLS handshake
   with the backend's own ``verify_tls``/``ca_bundle`` settings (skipped behind a proxy from the
   environment, which the probe goes through; skipped for backends with no network);
4. **probe**: a short prompt through the backend (``base.probe``, what setup's test sends);
   then which channel the reasoning came by (``Backend.reasoning_channel``:
   ``reasoning_content``, ``reasoning``, ``think_tags``, ``bedrock_reasoning`` or ``none``) and,
   when none, the likely fix (``Backend.no_reasoning_hint``).

A backend "answered" when the probe succeeded; the command exits 0 when every backend asked
about answered, 1 otherwise. Messages are redacted with the backend's secrets once more on
the way out. No Textual here.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from thinkpane.backends.base import Backend, probe
from thinkpane.backends.errors import BackendError, ThinkpaneError
from thinkpane.backends.secrets import redact

CHANNELS = ("reasoning_content", "reasoning", "think_tags", "bedrock_reasoning", "none")
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
CONNECT_TIMEOUT_S = 10.0


@dataclass
class Check:
    name: str  # configuration | credentials | reachability | probe | reasoning
    status: str  # ok | warn | fail | skip
    message: str
    hint: str = ""
    detail: str = ""


@dataclass
class Diagnosis:
    backend: str
    label: str = ""
    model: str = ""
    answered: bool = False
    reasoning_channel: str | None = None  # one of CHANNELS once the probe answered
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def diagnose(name: str, settings: Any, overrides: Mapping[str, Any] | None = None) -> Diagnosis:
    """Run the checks for backend ``name`` with ``settings`` (thinkpane.tui.core.config.Settings)."""
    from thinkpane.backends import registry
    from thinkpane.tui.core.config import backend_options

    diagnosis = Diagnosis(name)
    try:
        options = backend_options(settings, name, dict(overrides or {}), check=True)
        backend = await asyncio.to_thread(registry.create, name, options)
    except ThinkpaneError as error:
        diagnosis.checks.append(Check("configuration", "fail", error.title, error.hint, error.detail))
        return diagnosis
    diagnosis.label, diagnosis.model = backend.label, backend.model
    try:
        await _run_checks(backend, diagnosis)
    finally:
        await backend.aclose()
    secrets = backend.secrets()
    for check in diagnosis.checks:
        check.message, check.hint, check.detail = (redact(text, secrets) for text in (check.message, check.hint,
                                                                                    check.detail))
    return diagnosis


async def _run_checks(backend: Backend, diagnosis: Diagnosis) -> None:
    checks = diagnosis.checks
    where = backend.endpoint()
    described = f"{backend.label}, model {backend.model or '(default)'}" + (f" at {where}" if where else "")
    if backend.switches_thinking():
        described += f", {backend.reasoning.label()}"
    if dialect := getattr(backend, "dialect", None):
        described += f", dialect {dialect}"
    checks.append(Check("configuration", "ok", described))

    try:
        lines = await asyncio.to_thread(backend.credentials)
    except BackendError as error:
        checks.append(Check("credentials", "fail", error.title, error.hint, error.detail))
        return
    checks.append(Check("credentials", "ok", "; ".join(lines) or "none needed"))

    reach = await asyncio.to_thread(reachability, backend)
    checks.append(reach)
    if reach.status == "fail":
        return

    notices: list[str] = []
    final = None
    async for event in probe(backend):
        if event.status == "info" and event.data.get("notice"):
            notices.append(str(event.data["notice"]))
        elif event.status in ("ok", "fail"):
            final = event
    seconds = f" in {final.duration_s:.1f} s" if final is not None and final.duration_s is not None else ""
    if final is None or final.status == "fail":
        title = final.message if final is not None else "The backend sent nothing"
        hint = final.hint if final is not None else ""
        detail = str((final.data or {}).get("detail") or "") if final is not None else ""
        checks.append(Check("probe", "fail", title, hint, detail))
        return
    diagnosis.answered = True
    reply = " ".join(str((final.data or {}).get("content") or "").split())
    reply = reply if len(reply) <= 80 else reply[:79] + "…"
    checks.append(Check("probe", "ok", f"answered{seconds}: {reply!r}" if reply else f"answered{seconds} "
                        "(an empty answer)", detail=" ".join(notices)))
    channel = backend.reasoning_channel if backend.reasoning_channel in CHANNELS else "none"
    diagnosis.reasoning_channel = channel
    if channel == "none":
        checks.append(Check("reasoning", "warn", "the answer came without reasoning (channel: none)",
                            backend.no_reasoning_hint()))
    else:
        checks.append(Check("reasoning", "ok", f"reasoning arrived as {channel}"))


def reachability(backend: Backend) -> Check:
    """TCP (and TLS) to the backend's endpoint, with the backend's own TLS settings."""
    url = backend.endpoint()
    if not url:
        return Check("reachability", "skip", "works without a network")
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    proxy = next((var for var in PROXY_VARS if os.environ.get(var)), None)
    if proxy and not _bypasses_proxy(host):
        return Check("reachability", "skip", f"through the proxy in ${proxy}: the probe goes that way")
    declared = {option.name for option in backend.options}
    settings = backend.settings
    verify = bool(settings.get("verify_tls", True))
    ca_bundle = settings.get("ca_bundle") or None
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as raw:
            if not secure:
                return Check("reachability", "ok", f"{host}:{port} answers (plain HTTP, no TLS)")
            context = ssl.create_default_context(cafile=os.path.expanduser(str(ca_bundle)) if ca_bundle else None)
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            with context.wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version() or "TLS"
    except ssl.SSLCertVerificationError as exc:
        fixes = []
        if "ca_bundle" in declared:
            fixes.append("point --ca-bundle at the CA that signed it")
        if "verify_tls" in declared:
            fixes.append("use --no-verify-tls for a server you trust")
        hint = (" or ".join(fixes) + ".").capitalize() if fixes else (
            "Check the endpoint URL; a proxy or firewall may be intercepting TLS.")
        return Check("reachability", "fail", f"The TLS certificate of {host} is not trusted", hint,
                     exc.verify_message or str(exc))
    except (ssl.SSLError, OSError) as exc:
        if isinstance(exc, ssl.SSLError):
            title, hint = f"TLS with {host}:{port} failed", "Is it an https:// server? Check the URL's scheme and port."
        else:
            title, hint = f"Cannot reach {host}:{port}", "Is the server running, and are the URL and port right?"
        return Check("reachability", "fail", title, hint, str(exc))
    checked = "certificate verified" if verify else "certificate NOT verified (verify_tls off)"
    return Check("reachability", "ok", f"{host}:{port} answers, {version}, {checked}")


def _bypasses_proxy(host: str) -> bool:
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    names = [name.strip().lstrip(".") for name in no_proxy.split(",") if name.strip()]
    return "*" in names or any(host == name or host.endswith("." + name) for name in names) or host in (
        "127.0.0.1", "localhost", "::1")


def exit_code(diagnoses: list[Diagnosis]) -> int:
    """0 when every backend asked about answered, else 1."""
    return 0 if diagnoses and all(diagnosis.answered for diagnosis in diagnoses) else 1
