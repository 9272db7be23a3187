"""Chat with a DeepSeek model deployed in OpenSearch ML Commons (a remote model + connector).

Two ways to ask, chosen by ``mode``:

``predict``  ``POST /_plugins/_ml/models/<id>/_predict`` through opensearch-py. The whole reply
             arrives at once, *with* ``reasoning_content``, so reasoning then answer are emitted
             together when the model finishes.
``stream``   ``POST …/_predict/stream`` (server-sent events, ML Commons 3.3+, experimental) read
             with httpx. The answer streams live, but ML Commons forwards only
             ``delta.content``: DeepSeek's reasoning is dropped.
``auto``     When the model thinks (a reasoner, or V4 with thinking not off), ``predict`` (seeing
             the reasoning is the point of Thinkpane); otherwise try ``stream`` and fall back to
             ``predict`` when the cluster cannot stream: streaming off (500 "Streaming is
             currently disabled…"), a stock cluster's HTTP layer (500 ``illegal_state_exception``
             "The engine does not support HTTP streaming…"), or no endpoint (400/404). The
             fallback is announced with a :class:`Notice`; the mode is fixed for the session only
             by a first successful content event (or a refusal that will not change).

Thinking and effort (``--thinking``, ``--reasoning-effort``) travel as predict parameters
``thinking`` and ``reasoning_effort``, which the connector's request body template puts in
DeepSeek's fields (see provision/connector.py); ``auto`` sends neither (the connector's
defaults, DeepSeek's own: thinking enabled, effort high). A retired ``deepseek_model``
(``deepseek-reasoner``, ``deepseek-chat``) is replaced per turn by the current model, with a
Notice, since predict parameters override the connector's.

History is sent without reasoning (DeepSeek answers 400 when ``reasoning_content`` comes back).
Cancelling a ``predict`` turn returns at once; the worker thread finishes the HTTP call in the
background (opensearch-py is synchronous). Cancelling a stream hangs up the connection.
With ``memory = true`` each finished turn is also written to ML Commons conversational
memory (see thinkpane.backends.opensearch.memory); setup enables the feature on the cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

import httpx

from thinkpane.backends.base import Backend
from thinkpane.backends.deepseek_models import CURRENT_MODELS, DEFAULT_MODEL, replacement, retired_notice
from thinkpane.backends.errors import BackendError, IncompleteStreamError, ProtocolError
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    MessageExtra,
    Notice,
    ReasoningDelta,
    Stop,
    StreamEvent,
)
from thinkpane.backends.http_errors import (
    HttpContext,
    error_from_exception,
    is_transport_failure,
    kept,
    read_bounded,
)
from thinkpane.backends.opensearch.client import (
    build_client,
    connection_settings,
    httpx_options,
    tls_warning,
)
from thinkpane.backends.opensearch.errors import (
    STREAM_DISABLED_MARK,
    ErrorContext,
    classify,
    envelope_reason,
    from_exception,
)
from thinkpane.backends.opensearch.memory import MEMORY_EXTRA_KEY, mirror_turn
from thinkpane.backends.opensearch.provision import OpenSearchProvisioner
from thinkpane.backends.opensearch.replies import parse_predict, parse_stream_event
from thinkpane.backends.options import Option, http_url, require
from thinkpane.backends.sse import SSELineTooLong, SSEParser
from thinkpane.backends.thinking import Reasoning, effort_option, openai_fields, thinking_option

LLM_INTERFACE = "openai/v1/chat/completions"
# OpenSearch core's answer to _predict/stream without reactor-netty4 and the stream transport
# (500 illegal_state_exception "The engine does not support HTTP streaming, unable to serve uri [...]").
NO_HTTP_STREAMING_MARK = "does not support HTTP streaming"

REASONER_NOTICE = (
    "OpenSearch: using _predict so DeepSeek's reasoning can be shown (ML Commons streaming "
    "drops reasoning_content); reasoning and answer arrive together when the model finishes."
)


class _StreamUnavailable:
    """First item of :meth:`OpenSearchBackend._stream_turn` when the cluster cannot stream."""

    def __init__(self, reason: str, remember: bool) -> None:
        self.reason = reason
        self.remember = remember


class OpenSearchBackend(Backend):
    name = "opensearch"
    label = "OpenSearch ML Commons"
    description = "DeepSeek deployed in OpenSearch ML Commons through an HTTP connector."
    # _predict returns reasoning with the answer; _predict/stream drops it (module docstring).
    STREAMS_REASONING = False
    # A _predict call cannot be stopped (opensearch-py is synchronous; the thread runs on).
    IMPLEMENTS_CANCEL = False
    NEEDS_NETWORK = True
    options = (
        Option("url", "Cluster URL", "OpenSearch REST endpoint.", required=True,
               placeholder="https://localhost:9200", env=("OPENSEARCH_URL",), check=http_url),
        Option("auth", "Authentication", "basic (security plugin), sigv4 (Amazon OpenSearch "
               "Service) or none.", kind="choice", choices=("basic", "sigv4", "none"), default="basic"),
        Option("username", "User name", default="admin"),
        Option("password", "Password", kind="secret", env=("OPENSEARCH_PASSWORD",)),
        Option("region", "AWS region (SigV4)", env=("AWS_REGION",)),
        Option("profile", "AWS profile (SigV4)"),
        Option("verify_tls", "Verify TLS certificates", "Turn off only for a cluster you trust.",
               kind="bool", default=True),
        Option("ca_bundle", "CA bundle", "PEM file of the CA that signed the cluster certificate.",
               kind="path"),
        Option("model_id", "Model id", "Written by `thinkpane setup opensearch`."),
        Option("mode", "Mode", "auto, stream (_predict/stream) or predict (_predict).",
               kind="choice", choices=("auto", "stream", "predict"), default="auto"),
        Option("request_timeout_s", "Request timeout (s)", kind="float", default=330.0, min=0,
               min_exclusive=True),
        Option("deepseek_api_key", "DeepSeek API key", "Used by setup only; stored in the connector.",
               kind="secret", env=("DEEPSEEK_API_KEY",)),
        Option("deepseek_model", "DeepSeek model", " or ".join(CURRENT_MODELS) + ".",
               default=DEFAULT_MODEL, placeholder=DEFAULT_MODEL, suggestions=CURRENT_MODELS),
        Option("endpoint", "DeepSeek endpoint", "Where the connector sends requests.",
               default="https://api.deepseek.com", check=http_url),
        Option("model_group_name", "Model group name", default="thinkpane"),
        Option("memory", "Conversation memory", "Save each turn to ML Commons conversational "
               "memory (setup enables the feature on the cluster).",
               kind="bool", default=False),
        # Last in the form: setup's fields come first (a small terminal shows them without scrolling).
        thinking_option(description=(
            "on: DeepSeek reasons before answering; off: it answers straight away; auto: the "
            "connector's default (thinking on). Sent with every turn as a predict parameter.")),
        effort_option(),
    )

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self._cs = connection_settings(self.settings)
        self.model_id = str(require(self.settings, _option("model_id"), self.name))
        self._mode: str = str(self.settings["mode"])
        self._client: Any = None
        self._http: httpx.AsyncClient | None = None
        self._tls_warned = False
        self._retired_told = False

    # ------------------------------------------------------------------ public

    @classmethod
    def provisioner(cls, settings: Mapping[str, Any], state_path: Path, **kwargs: Any) -> OpenSearchProvisioner:
        """The setup/teardown driver for these settings (see thinkpane.backends.opensearch.provision)."""
        return OpenSearchProvisioner(settings, state_path, **kwargs)

    @property
    def model(self) -> str:
        configured = str(self.settings.get("deepseek_model") or self.model_id)
        found = replacement(configured)
        return found[0] if found else configured

    @property
    def reasoning(self) -> Reasoning:
        configured = str(self.settings.get("deepseek_model") or "")
        found = replacement(configured)
        reasoning = super().reasoning
        if found and reasoning.thinking == "auto" and reasoning.effort is None:
            return Reasoning(found[1])  # deepseek-chat did not think, deepseek-reasoner did
        return reasoning

    @property
    def shows_reasoning(self) -> bool:
        """Whether the model thinks: then ``auto`` uses _predict, the one way to see reasoning."""
        name = self.model.lower()
        if "reasoner" in name or "r1" in name:
            return True
        return "v4" in name and not self.reasoning.off

    def predict_parameters(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        """The predict ``parameters``: the messages, and the thinking settings in the names the
        connector's template reads (DeepSeek's values, thinking.openai_fields)."""
        parameters: dict[str, Any] = {"messages": messages}
        fields = openai_fields("deepseek", self.reasoning).body
        if "thinking" in fields:
            parameters["thinking"] = fields["thinking"]["type"]
        if "reasoning_effort" in fields:
            parameters["reasoning_effort"] = fields["reasoning_effort"]
        if replacement(str(self.settings.get("deepseek_model") or "")):
            parameters["model"] = self.model
        return parameters

    async def stream(self, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
        turn = self._turn(conversation)
        if not self.settings.get("memory"):
            try:
                async for event in turn:
                    yield event
            finally:
                await turn.aclose()
            return
        # Memory on: hold the Stop back until the finished turn is mirrored (Stop stays last).
        content: list[str] = []
        reasoning: list[str] = []
        stop: Stop | None = None
        try:
            async for event in turn:
                if isinstance(event, Stop):
                    stop = event
                    continue
                if isinstance(event, ContentDelta):
                    content.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    reasoning.append(event.text)
                yield event
        finally:
            await turn.aclose()
        if stop is None:
            return
        try:
            memory_id, created = await mirror_turn(
                await self._os_client(), conversation,
                content="".join(content), reasoning="".join(reasoning), model=self.model,
            )
        except Exception as exc:
            error = exc if isinstance(exc, BackendError) else from_exception(exc, self._ctx())
            yield Notice(f"OpenSearch: this turn was not saved to conversation memory ({error.title}). "
                         + error.detail, "warning")
        else:
            if created:
                yield MessageExtra({MEMORY_EXTRA_KEY: memory_id})
        yield stop

    def endpoint(self) -> str:
        return self._cs.url

    def no_reasoning_hint(self) -> str:
        return ("ML Commons streaming drops DeepSeek's reasoning: use --mode predict (or auto), "
                "and --thinking on.")

    async def _turn(self, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
        self.reasoning_channel = "none"
        messages = conversation.history_without_reasoning()
        warning = tls_warning(self._cs)
        if warning and not self._tls_warned:
            self._tls_warned = True
            yield Notice(warning, "warning")
        if (notice := retired_notice(str(self.settings.get("deepseek_model") or ""), option="deepseek_model")) \
                and not self._retired_told:
            self._retired_told = True
            yield Notice(notice, "warning")
        if self._mode == "auto" and self.shows_reasoning:
            self._mode = "predict"
            yield Notice(REASONER_NOTICE)
        if self._mode == "predict":
            async for event in self._predict_turn(messages):
                yield event
            return
        fallback_ok = self._mode == "auto"
        unavailable: _StreamUnavailable | None = None
        turn = self._stream_turn(messages, fallback_ok=fallback_ok)
        try:
            async for event in turn:
                if isinstance(event, _StreamUnavailable):
                    unavailable = event
                    break
                if isinstance(event, ContentDelta) and self._mode == "auto":
                    # Only a first successful content event proves streaming works here: an
                    # error before it leaves "auto" to try again (and fall back) next turn.
                    self._mode = "stream"
                    yield Notice("OpenSearch: streaming with _predict/stream (answer only; ML Commons "
                                 "does not stream reasoning).")
                yield event
        finally:
            await turn.aclose()  # hang up the HTTP stream now, also on cancel
        if unavailable is not None:
            if unavailable.remember:
                self._mode = "predict"
            yield Notice(
                f"OpenSearch: streaming is unavailable on this cluster ({unavailable.reason}); using "
                "_predict, so the reply arrives in one piece."
            )
            async for fallback in self._predict_turn(messages):
                yield fallback

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.to_thread(client.close)

    # ------------------------------------------------------------------ predict

    def _ctx(self) -> ErrorContext:
        return ErrorContext(self._cs.url, self.secrets(), self.model_id, self._cs.request_timeout_s)

    async def _os_client(self) -> Any:
        if self._client is None:
            self._client = await asyncio.to_thread(build_client, self._cs)
        return self._client

    async def _predict_turn(self, messages: list[dict[str, str]]) -> AsyncGenerator[StreamEvent, None]:
        try:
            client = await self._os_client()
            result = await asyncio.to_thread(
                client.plugins.ml.predict_model,
                model_id=self.model_id,
                body={"parameters": self.predict_parameters(messages)},
                params={"request_timeout": self._cs.request_timeout_s},
            )
            reply = parse_predict(result)
        except BackendError as error:
            yield ErrorEvent(error)
            return
        except Exception as exc:
            if not type(exc).__module__.startswith("opensearchpy"):
                raise
            yield ErrorEvent(from_exception(exc, self._ctx()))
            return
        if reply.reasoning:
            self.reasoning_channel = "reasoning_content"
            yield ReasoningDelta(reply.reasoning)
        if reply.content:
            yield ContentDelta(reply.content)
        if reply.usage:
            yield reply.usage
        yield reply.stop

    # ------------------------------------------------------------------ stream

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(**httpx_options(self._cs))
        return self._http

    async def _stream_turn(self, messages: list[dict[str, str]], *, fallback_ok: bool) -> AsyncGenerator[Any, None]:
        path = f"/_plugins/_ml/models/{self.model_id}/_predict/stream"
        http_ctx = HttpContext("OpenSearch", self._cs.url + path, setup_command="thinkpane setup opensearch",
                               key_hint="Check the OpenSearch user and password.", model=self.model,
                               secrets=self.secrets(), read_timeout_s=self._cs.request_timeout_s,
                               timeout_option="--request-timeout-s")
        body = {"parameters": {**self.predict_parameters(messages), "_llm_interface": LLM_INTERFACE}}
        try:
            client = self._http_client()
            request = client.build_request("POST", path, json=body, headers={"Accept": "text/event-stream"})
            response = await client.send(request, stream=True)
        except Exception as exc:
            if not is_transport_failure(exc):
                raise
            yield ErrorEvent(error_from_exception(exc, http_ctx))
            return
        received = False  # some answer text arrived (an error then says it is kept)
        try:
            if response.status_code >= 300:
                raw = await read_bounded(response)
                type_, reason = envelope_reason(raw)
                disabled = response.status_code == 500 and STREAM_DISABLED_MARK in reason
                # A stock cluster's HTTP layer refuses before ML Commons sees the request.
                no_engine = type_ == "illegal_state_exception" and NO_HTTP_STREAMING_MARK in reason
                no_handler = "no handler found" in reason
                if fallback_ok and (disabled or no_engine or no_handler or response.status_code in (400, 404)):
                    why = ("stream_enabled is off" if disabled
                           else "its HTTP layer does not stream" if no_engine
                           else f"HTTP {response.status_code}")
                    yield _StreamUnavailable(why, remember=disabled or no_engine or no_handler)
                    return
                yield ErrorEvent(classify(response.status_code, raw, self._ctx()))
                return
            parser = SSEParser()
            finished = False
            async for chunk in response.aiter_bytes():
                for sse in parser.feed(chunk):
                    for event in self._sse_events(sse.data):
                        yield event
                        received = received or isinstance(event, ContentDelta)
                        finished = finished or isinstance(event, (Stop, ErrorEvent))
                    if finished:
                        return
            for sse in parser.close():
                for event in self._sse_events(sse.data):
                    yield event
                    received = received or isinstance(event, ContentDelta)
                    finished = finished or isinstance(event, (Stop, ErrorEvent))
            if not finished:
                yield ErrorEvent(IncompleteStreamError(
                    "OpenSearch ended the stream before the last event",
                    kept(received) + "Send again to get a complete answer.",
                ))
        except SSELineTooLong as exc:
            yield ErrorEvent(ProtocolError("OpenSearch sent an oversized stream event", "Send again.",
                                           detail=str(exc)))
        except httpx.HTTPError as exc:
            yield ErrorEvent(error_from_exception(exc, http_ctx, mid_stream=True, partial=received))
        finally:
            await response.aclose()

    def _sse_events(self, data: str) -> list[StreamEvent]:
        try:
            payload = json.loads(data)
        except ValueError:
            return [ErrorEvent(ProtocolError("OpenSearch sent a stream event that is not JSON",
                                             "Check the cluster version (3.3+ for streaming).",
                                             detail=data[:200]))]
        if isinstance(payload, dict) and "error" in payload:
            error = classify(None, payload, self._ctx())
            error.title = error.title if "mid-stream" in error.title else error.title + " (mid-stream)"
            return [ErrorEvent(error)]
        try:
            content, is_last = parse_stream_event(payload)
        except BackendError as error:
            return [ErrorEvent(error)]
        events: list[StreamEvent] = []
        if content:
            events.append(ContentDelta(content))
        if is_last:
            events.append(Stop("end_turn", "is_last"))
        return events


def _option(name: str) -> Option:
    return next(option for option in OpenSearchBackend.options if option.name == name)
