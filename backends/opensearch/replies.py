"""Reading ML Commons predict answers (shared by the chat backend and setup's test step).

``_predict`` wraps DeepSeek's raw JSON: ``inference_results[0].output[0].dataAsMap`` is the
chat completion, with every number turned into a double (``"index": 0.0``) by ML Commons.
``_predict/stream`` events carry ``dataAsMap.content`` and ``is_last`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thinkpane.backends.errors import ProtocolError
from thinkpane.backends.events import Stop, StopReason, Usage

STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "content_filter",
    "insufficient_system_resource": "other",
    "tool_calls": "tool_use",
}


@dataclass(frozen=True)
class Reply:
    content: str
    reasoning: str
    usage: Usage | None
    stop: Stop


def data_as_map(response: Any) -> dict[str, Any]:
    try:
        data = response["inference_results"][0]["output"][0]["dataAsMap"]
    except (KeyError, IndexError, TypeError):
        data = None
    if not isinstance(data, dict):
        raise ProtocolError(
            "OpenSearch answered without inference_results[0].output[0].dataAsMap",
            "Is model_id a DeepSeek remote model created by `thinkpane setup opensearch`? "
            "A connector with a post-processing function changes this shape.",
            detail=str(response)[:300],
        )
    return data


def parse_predict(response: Any) -> Reply:
    data = data_as_map(response)
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise ProtocolError(
            "OpenSearch's reply has no choices[0].message",
            "The connector did not return a chat completion; check its request_body.",
            detail=str(data)[:300],
        ) from None
    raw_reason = choice.get("finish_reason")
    usage_data = data.get("usage") or {}
    usage = Usage.from_openai(usage_data) if isinstance(usage_data, dict) and usage_data else None
    return Reply(
        content=str(message.get("content") or ""),
        reasoning=str(message.get("reasoning_content") or ""),
        usage=usage,
        stop=Stop(STOP_REASONS.get(str(raw_reason), "other") if raw_reason else "end_turn",
                  str(raw_reason) if raw_reason else None),
    )


def parse_stream_event(data: Any) -> tuple[str, bool]:
    """(content piece, is_last) from one ``_predict/stream`` SSE event."""
    mapped = data_as_map(data)
    return str(mapped.get("content") or ""), bool(mapped.get("is_last"))
