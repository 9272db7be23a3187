"""AWS Bedrock through the Converse streaming API (boto3 ``converse_stream``).

Credentials come only from the standard AWS chain (environment, profile, SSO, instance
role); Thinkpane never stores them, so there is no secret option here.

Thinking and effort (``--thinking``, ``--reasoning-effort``) go in
``additionalModelRequestFields`` in the form each model family takes
(:func:`thinkpane.backends.thinking.bedrock_fields`); a setting the model cannot honour is told
once with a Notice.

Retries: botocore's own retries are off (one attempt) because a retried stream would
replay a paid generation after tokens were shown. We retry throttling, "model not ready"
and "service unavailable" ourselves, only before the first token, with a visible notice.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncGenerator, Mapping
from typing import Any, ClassVar

from thinkpane.backends.base import Backend
from thinkpane.backends.bedrock.errors import ErrorContext, from_exception, retry_code
from thinkpane.backends.bedrock.events import ConverseTranslator
from thinkpane.backends.bedrock.history import converse_messages, system_blocks
from thinkpane.backends.bedrock.worker import ConverseCall
from thinkpane.backends.errors import ConfigurationError, InvalidRequestError
from thinkpane.backends.events import Conversation, ErrorEvent, Notice, ReasoningDelta, StreamEvent
from thinkpane.backends.options import Option, http_url
from thinkpane.backends.secrets import env_secrets
from thinkpane.backends.thinking import BedrockFields, bedrock_fields, effort_option, thinking_option

DEFAULT_MODEL = "us.deepseek.r1-v1:0"
MAX_STOP_SEQUENCES = 10  # DeepSeek-R1 on Bedrock accepts at most 10

RETRY_NOTICES = {
    "throttling": "Throttled by Bedrock",
    "modelnotready": "Bedrock model is not ready yet",
    "serviceunavailable": "Bedrock is unavailable",
}


class BedrockBackend(Backend):
    name = "bedrock"
    label = "AWS Bedrock"
    description = "DeepSeek-R1 (and other models) on AWS Bedrock via ConverseStream; AWS credentials chain."
    STREAMS_REASONING = True  # reasoningContent deltas
    IMPLEMENTS_CANCEL = True  # ConverseCall.hang_up shuts the socket down (worker.py)
    NEEDS_NETWORK = True
    options = (
        Option(
            "model", "Model id",
            "Bedrock model id or inference profile. DeepSeek-R1 needs an inference profile: "
            "us.deepseek.r1-v1:0, eu.deepseek.r1-v1:0 or apac.deepseek.r1-v1:0 (pick your region's). "
            "deepseek.v3-v1:0 is DeepSeek-V3.1 (thinking off by default).",
            default=DEFAULT_MODEL, placeholder=DEFAULT_MODEL,
        ),
        Option("region", "AWS region", "e.g. us-east-1; defaults to AWS_REGION, AWS_DEFAULT_REGION, "
               "then your profile's region.", env=("AWS_REGION", "AWS_DEFAULT_REGION"), placeholder="us-east-1"),
        Option("profile", "AWS profile", "A profile from ~/.aws/config (SSO profiles work after "
               "`aws sso login --profile NAME`).", env=("AWS_PROFILE",)),
        Option("endpoint_url", "Endpoint URL", "Override the Bedrock Runtime endpoint (VPC endpoint, "
               "test server).", env=("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",), check=http_url),
        Option("max_tokens", "Max output tokens", "R1 accepts up to 32768; quality degrades above 8192.",
               kind="int", default=8192, min=1),
        Option("temperature", "Temperature", "0–1; DeepSeek advises 0.5–0.7.", kind="float", default=0.6,
               min=0, max=1),
        Option("top_p", "Top p", "0–1; unset uses the model's default.", kind="float", min=0, max=1),
        Option("stop_sequences", "Stop sequences", f"Comma-separated, at most {MAX_STOP_SEQUENCES}.",
               kind="list"),
        Option("read_timeout_s", "Read timeout (s)", "How long a pause in the stream is tolerated; "
               "long reasoning needs minutes.", kind="float", default=300.0, min=0, min_exclusive=True),
        Option("connect_timeout_s", "Connect timeout (s)", kind="float", default=10.0, min=0, min_exclusive=True),
        thinking_option(description=(
            "on: the model reasons before answering (Claude: extended thinking; DeepSeek V3.x: "
            "reasoning_effort); off: it answers straight away (R1 always thinks); auto: the model's default.")),
        effort_option("none, low, medium, high or max: Claude's thinking budget (1,024 to 32,768 "
                      "tokens, below max_tokens), DeepSeek V3.x's reasoning_effort. Empty: the default."),
    )

    # Waits before attempt 2, 3, ... of a throttled request (tests make these tiny).
    RETRY_DELAYS_S: ClassVar[tuple[float, ...]] = (2.0, 4.0)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.retry_delays_s: tuple[float, ...] = tuple(
            float(d) for d in settings.get("retry_delays_s", self.RETRY_DELAYS_S)
        )
        self._validate()
        self._client_lock = threading.Lock()
        self._client_obj: Any = None
        self._told: set[str] = set()  # notes about thinking settings, each said once

    # ------------------------------------------------------------------ settings

    def _validate(self) -> None:
        s = self.settings

        def bad(option: str, expected: str) -> ConfigurationError:
            flag = "--" + option.replace("_", "-")
            return ConfigurationError(
                f"bedrock: {option} is out of range", f"Expected {expected}; set it with {flag}.")

        if not str(s.get("model") or "").strip():
            raise ConfigurationError("bedrock: no model id set", f"Set one with --model (e.g. {DEFAULT_MODEL}).")
        if int(s["max_tokens"]) < 1:
            raise bad("max_tokens", "a whole number of at least 1")
        if not 0.0 <= float(s["temperature"]) <= 1.0:
            raise bad("temperature", "a number from 0 to 1")
        if s.get("top_p") is not None and not 0.0 <= float(s["top_p"]) <= 1.0:
            raise bad("top_p", "a number from 0 to 1")
        if len(s.get("stop_sequences") or []) > MAX_STOP_SEQUENCES:
            raise bad("stop_sequences", f"at most {MAX_STOP_SEQUENCES} stop sequences")
        for name in ("read_timeout_s", "connect_timeout_s"):
            if float(s[name]) <= 0:
                raise bad(name, "a positive number of seconds")

    @property
    def region(self) -> str | None:
        # boto3 ignores AWS_REGION, so read it ourselves (the option's env does too, but the
        # backend may be built from a settings dict without going through resolve_options).
        return self.settings.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None

    @property
    def profile(self) -> str | None:
        return self.settings.get("profile") or os.environ.get("AWS_PROFILE") or None

    def secrets(self) -> list[str]:
        values = env_secrets()
        credentials = getattr(getattr(self._client_obj, "_request_signer", None), "_credentials", None)
        # The instance dict, not the properties: on refreshable credentials (SSO, roles) the
        # properties may refresh them, which is network I/O. Plain credentials store
        # secret_key/token there; refreshable ones _secret_key/_token.
        fields = vars(credentials) if credentials is not None and hasattr(credentials, "__dict__") else {}
        for attr in ("secret_key", "token", "_secret_key", "_token"):
            value = fields.get(attr)
            if isinstance(value, str) and value:
                values.append(value)
        return values

    def endpoint(self) -> str | None:
        if self.settings.get("endpoint_url"):
            return str(self.settings["endpoint_url"])
        return f"https://bedrock-runtime.{self.region}.amazonaws.com" if self.region else None

    def no_reasoning_hint(self) -> str:
        return ("Use a model that reasons: DeepSeek-R1 (--model us.deepseek.r1-v1:0), or Claude or "
                "DeepSeek V3.x with --thinking on.")

    def credentials(self) -> list[str]:
        """The AWS credential chain's answer: which provider found keys (never the keys)."""
        try:
            import boto3
            from botocore.exceptions import NoCredentialsError

            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            found = session.get_credentials()
            if found is None:
                raise NoCredentialsError()
        except ImportError:
            raise ConfigurationError(
                "The bedrock backend needs boto3", "Install it with: pip install 'thinkpane[bedrock]'") from None
        except Exception as exc:  # every boto3 failure becomes a typed error
            raise from_exception(exc, self._error_context()) from None
        where = f" (profile {self.profile})" if self.profile else ""
        return [f"AWS credentials: found by the {found.method} provider{where}"]

    def _error_context(self) -> ErrorContext:
        return ErrorContext(
            model=self.model, region=self.region, profile=self.profile,
            endpoint_url=self.settings.get("endpoint_url"),
            read_timeout_s=float(self.settings["read_timeout_s"]), secrets=self.secrets(),
        )

    def build_request(self, conversation: Conversation) -> dict[str, Any]:
        s = self.settings
        inference: dict[str, Any] = {"maxTokens": int(s["max_tokens"]), "temperature": float(s["temperature"])}
        if s.get("top_p") is not None:
            inference["topP"] = float(s["top_p"])
        if s.get("stop_sequences"):
            inference["stopSequences"] = list(s["stop_sequences"])
        request: dict[str, Any] = {
            "modelId": self.model,
            "messages": converse_messages(conversation),
            "inferenceConfig": inference,
        }
        if system := system_blocks(conversation):
            request["system"] = system
        fields = self.thinking_fields()
        if fields.body:
            request["additionalModelRequestFields"] = fields.body
        if fields.drop_sampling:  # Claude refuses temperature and top_p while it thinks
            inference.pop("temperature", None)
            inference.pop("topP", None)
        return request

    def thinking_fields(self) -> BedrockFields:
        """``additionalModelRequestFields`` for the thinking settings (thinking.bedrock_fields)."""
        return bedrock_fields(self.model, self.reasoning, int(self.settings["max_tokens"]))

    # ------------------------------------------------------------------ client

    def _client(self) -> Any:
        """The boto3 client, created once (in the worker thread: it reads files)."""
        with self._client_lock:
            if self._client_obj is None:
                try:
                    import boto3
                    from botocore.config import Config
                except ImportError:
                    raise ConfigurationError(
                        "The bedrock backend needs boto3", "Install it with: pip install 'thinkpane[bedrock]'"
                    ) from None
                s = self.settings
                config = Config(
                    retries={"mode": "standard", "total_max_attempts": 1},
                    read_timeout=float(s["read_timeout_s"]),
                    connect_timeout=float(s["connect_timeout_s"]),
                    tcp_keepalive=True,
                    user_agent_extra="thinkpane",
                )
                session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
                self._client_obj = session.client(
                    "bedrock-runtime", endpoint_url=s.get("endpoint_url") or None, config=config
                )
            return self._client_obj

    def _start_call(self, request: dict[str, Any]) -> Any:
        return self._client().converse_stream(**request)["stream"]

    # ------------------------------------------------------------------ streaming

    async def stream(self, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
        request = self.build_request(conversation)
        if not request["messages"]:
            yield ErrorEvent(InvalidRequestError(
                "Nothing to send to Bedrock", "The conversation has no user message with text."))
            return
        self.reasoning_channel = "none"
        note = self.thinking_fields().note
        if note and note not in self._told:
            self._told.add(note)
            yield Notice(note)
        max_attempts = len(self.retry_delays_s) + 1
        attempt = 1
        while True:
            translator = ConverseTranslator()
            call = ConverseCall(lambda: self._start_call(request)).start()
            retry_reason: str | None = None
            try:
                try:
                    async for event in call.events():
                        for out in translator.feed(event):
                            if isinstance(out, ReasoningDelta):
                                self.reasoning_channel = "bedrock_reasoning"
                            yield out
                    closing = translator.finish()
                except Exception as exc:
                    code = retry_code(exc)
                    if code and not translator.saw_delta and attempt < max_attempts:
                        retry_reason = code
                    else:
                        yield ErrorEvent(from_exception(exc, self._error_context(), mid_stream=translator.saw_delta))
                        return
                else:
                    for out in closing:
                        yield out
                    return
            finally:
                await call.close()
            delay = self.retry_delays_s[attempt - 1]
            attempt += 1
            yield Notice(
                f"{RETRY_NOTICES.get(retry_reason, 'Bedrock is busy')}; retrying in {delay:g} s "
                f"(attempt {attempt} of {max_attempts})",
                level="warning",
            )
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        client, self._client_obj = self._client_obj, None
        if client is not None and hasattr(client, "close"):
            await asyncio.to_thread(client.close)

