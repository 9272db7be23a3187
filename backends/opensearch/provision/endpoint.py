"""Where the DeepSeek connector sends chat completions, parsed once from the ``endpoint`` option.

The cluster settings step needs its trusted-endpoint regex and whether it is a private
address; the connector step needs the blueprint's ``${parameters.endpoint}`` split.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from thinkpane.backends.errors import ConfigurationError

DEFAULT_ENDPOINT = "https://api.deepseek.com"


@dataclass(frozen=True)
class Endpoint:
    """Where the connector sends chat completions, in the blueprint's terms."""

    scheme: str
    netloc: str  # host[:port] -> parameters.endpoint
    path: str  # e.g. /v1/chat/completions

    @property
    def action_url(self) -> str:
        return f"{self.scheme}://${{parameters.endpoint}}{self.path}"

    @property
    def resolved_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def trusted_regex(self) -> str:
        """The narrowest regex ML Commons accepts for it, e.g. ``^https://api\\.deepseek\\.com/.*$``."""
        return "^" + re.escape(f"{self.scheme}://{self.netloc}") + "/.*$"

    @property
    def is_private(self) -> bool:
        host = urlsplit(self.resolved_url).hostname or ""
        if host == "localhost":
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return address.is_private or address.is_loopback


def parse_endpoint(raw: str | None) -> Endpoint:
    """``api.deepseek.com``, ``https://api.deepseek.com`` or ``http://10.0.0.5:8000/v1``."""
    text = (raw or DEFAULT_ENDPOINT).strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or "${" in text:
        raise ConfigurationError(
            f"OpenSearch: invalid DeepSeek endpoint {raw!r}",
            "Give a URL like https://api.deepseek.com (the default) or http://10.0.0.5:8000/v1.",
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
    return Endpoint(parts.scheme, parts.netloc, path)
