"""Connecting to the cluster: URL, auth (basic / SigV4 / none) and TLS, for both clients.

opensearch-py carries every JSON call; httpx carries ``_predict/stream`` (opensearch-py
cannot read server-sent events). Both are built here from the same settings so the stream
uses exactly the auth and TLS checks the rest does. TLS is verified unless the user sets
``verify_tls = false`` explicitly, and then :func:`tls_warning` says so.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.secrets import Secret

SETUP = "thinkpane setup opensearch"


@dataclass(frozen=True)
class ConnectionSettings:
    url: str
    auth: str = "basic"  # basic | sigv4 | none
    username: str | None = None
    password: Secret | None = None
    region: str | None = None
    profile: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    request_timeout_s: float = 330.0

    @property
    def secrets(self) -> list[str]:
        return [self.password.get()] if self.password else []


def connection_settings(settings: Mapping[str, Any]) -> ConnectionSettings:
    """Validate the connection options (no I/O); ConfigurationError names what is wrong."""
    url = str(settings.get("url") or "").strip().rstrip("/")
    if not url:
        raise ConfigurationError(
            "OpenSearch: the cluster URL is not set",
            f"Set it with --url (e.g. https://localhost:9200) or run `{SETUP}`.",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"OpenSearch: invalid cluster URL {url!r}",
            "It must look like https://host:9200 (or http:// for a cluster without TLS).",
        )
    auth = str(settings.get("auth") or "basic")
    username = settings.get("username") or None
    password = settings.get("password")
    if isinstance(password, str):
        password = Secret(password)
    if auth == "basic" and not (username and password):
        missing = "username" if not username else "password"
        raise ConfigurationError(
            f"OpenSearch: the {missing} for basic auth is not set",
            "Set --username and --password (or the environment variable OPENSEARCH_PASSWORD); "
            "use --auth sigv4 for Amazon OpenSearch Service or --auth none for a cluster "
            "without the security plugin.",
        )
    region = settings.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if auth == "sigv4" and not region:
        raise ConfigurationError(
            "OpenSearch: SigV4 needs an AWS region",
            "Set --region (e.g. us-east-1) or the environment variable AWS_REGION.",
        )
    verify = settings.get("verify_tls")
    ca_bundle = settings.get("ca_bundle") or None
    if ca_bundle and not os.path.isfile(os.path.expanduser(str(ca_bundle))):
        raise ConfigurationError(
            f"OpenSearch: the CA bundle {ca_bundle!r} does not exist",
            "Point --ca-bundle at the PEM file of the CA that signed the cluster's certificate "
            "(for the demo setup: config/root-ca.pem in the OpenSearch directory).",
        )
    timeout = settings.get("request_timeout_s")
    return ConnectionSettings(
        url=url,
        auth=auth,
        username=username,
        password=password if auth == "basic" else None,
        region=region,
        profile=settings.get("profile") or None,
        verify_tls=True if verify is None else bool(verify),
        ca_bundle=os.path.expanduser(str(ca_bundle)) if ca_bundle else None,
        request_timeout_s=float(timeout) if timeout else 330.0,
    )


def tls_warning(cs: ConnectionSettings) -> str | None:
    """The warning to show when the user turned certificate checking off."""
    if cs.url.startswith("https") and not cs.verify_tls:
        return (
            "TLS certificate checking is OFF for this cluster (verify_tls = false): anyone on the "
            "network path could read your password and chats. Prefer ca_bundle = <root-ca.pem>."
        )
    return None


def _aws_credentials(cs: ConnectionSettings) -> Any:
    import boto3

    credentials = boto3.Session(profile_name=cs.profile).get_credentials()
    if credentials is None:
        raise ConfigurationError(
            "OpenSearch: no AWS credentials found for SigV4",
            "Run `aws configure` / `aws sso login`, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or name a profile with --aws-profile.",
        )
    return credentials


def build_client(cs: ConnectionSettings) -> Any:
    """A synchronous opensearch-py client. ``max_retries=0``: creating calls are not
    idempotent, and a silent retry after a dropped answer would create a duplicate."""
    import warnings

    from opensearchpy import OpenSearch, RequestsHttpConnection

    kwargs: dict[str, Any] = {
        "hosts": [cs.url],
        "timeout": 30,
        "max_retries": 0,
        "retry_on_timeout": False,
        "http_compress": False,
    }
    if cs.url.startswith("https"):
        kwargs["use_ssl"] = True
        kwargs["verify_certs"] = cs.verify_tls
        kwargs["ssl_show_warn"] = False  # we say it ourselves, once, in plain words
        if cs.ca_bundle:
            kwargs["ca_certs"] = cs.ca_bundle
    if cs.auth == "basic" and cs.username and cs.password:
        kwargs["http_auth"] = (cs.username, cs.password.get())
    elif cs.auth == "sigv4":
        from opensearchpy import AWSV4SignerAuth

        kwargs["http_auth"] = AWSV4SignerAuth(_aws_credentials(cs), cs.region, "es")
        kwargs["connection_class"] = RequestsHttpConnection
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = OpenSearch(**kwargs)
    if not cs.verify_tls:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return client


# --------------------------------------------------------------------------- httpx (streaming)


class _SigV4Auth(httpx.Auth):
    """Signs each httpx request with SigV4 the way opensearch-py's signer does."""

    requires_request_body = True

    def __init__(self, credentials: Any, region: str) -> None:
        from opensearchpy.helpers.signer import AWSV4Signer

        self._signer = AWSV4Signer(credentials, region, "es")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {"Content-Type": request.headers.get("content-type", "application/json")}
        signed = self._signer.sign(request.method, str(request.url), request.content, headers)
        for name, value in signed.items():
            request.headers[name] = value
        yield request


def httpx_options(cs: ConnectionSettings) -> dict[str, Any]:
    """Keyword arguments for ``httpx.AsyncClient`` matching the opensearch-py client."""
    verify: Any = True
    if cs.url.startswith("https"):
        if not cs.verify_tls:
            verify = False
        elif cs.ca_bundle:
            verify = ssl.create_default_context(cafile=cs.ca_bundle)
    auth: httpx.Auth | None = None
    if cs.auth == "basic" and cs.username and cs.password:
        auth = httpx.BasicAuth(cs.username, cs.password.get())
    elif cs.auth == "sigv4":
        auth = _SigV4Auth(_aws_credentials(cs), str(cs.region))
    return {
        "base_url": cs.url,
        "verify": verify,
        "auth": auth,
        "timeout": httpx.Timeout(30.0, read=cs.request_timeout_s),
        "trust_env": True,
    }
