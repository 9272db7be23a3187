"""Stand-in servers and environments for tests that run the real app against real backends.

Import the fixtures into a test module (``from tests.backend_fixtures import aws_env, ...``);
each starts its stand-in on 127.0.0.1 for one test and stops it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.bedrock_eventstream import BedrockStandIn
from tests.servers.mlcommons import MLCommonsServer, StandInConfig
from tests.servers.openai_sse import StandInServer, serve

# Dummy AWS credentials: boto3 signs with them, the stand-in ignores the signature.
AWS_KEY_ID = "AKIDTHINKPANEE2E12345"
AWS_SECRET = "tHiNkPaNe/E2e+DuMmY+SeCrEt0123456789abcdef"


@pytest.fixture
def aws_env(monkeypatch, tmp_path) -> None:
    """Dummy keys, no real AWS config, no instance metadata: nothing leaves 127.0.0.1."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    for var in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def openai_server() -> Iterator[StandInServer]:
    """The OpenAI-compatible SSE stand-in answering like deepseek-reasoner."""
    with serve("reasoner") as server:
        yield server


@pytest.fixture
def bedrock_server(aws_env) -> Iterator[BedrockStandIn]:
    """The Bedrock ConverseStream stand-in (R1-shaped turns); tests may enqueue scenarios."""
    with BedrockStandIn() as server:
        yield server


@pytest.fixture
def mlcommons_server() -> Iterator[MLCommonsServer]:
    """An empty ML Commons cluster (no model yet); ``tests.servers.mlcommons.preprovision``
    deploys one as setup would."""
    with MLCommonsServer(StandInConfig()) as server:
        yield server
