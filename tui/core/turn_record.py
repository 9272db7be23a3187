"""What the UI knows about one assistant turn: text, timings, tokens, settings, outcome. No widgets.

The same record describes a turn streaming right now and a turn loaded from the store, so
the transcript, the reasoning pane, the exports and ``thinkpane ask --json`` read them the same
way. It is also the one place that measures a turn (:meth:`TurnRecord.note_reasoning`,
:meth:`~TurnRecord.note_content`, :meth:`~TurnRecord.end`), so the app and ``thinkpane ask``
agree on what "thinking time" means:

* **first token**: from sending to the first reasoning or answer text (``ttft_ms``);
* **first reasoning**: from sending to the first reasoning text;
* **thinking time**: from a reasoning delta to the next answer delta; when the model thinks
  again after answering started, the segments add up, and a turn that ends while thinking
  counts until its end. Once the answer has started nothing is counted (users of other apps
  report timers that run on, or show 0.0 s: Cherry Studio #11796, #10434). A backend that
  does not stream reasoning (it arrives with the answer, all at once) has no thinking time;
* **answer time**: from the first answer text to the end of the turn.

What the provider reported about tokens (reasoning tokens, prompt-cache hits and writes) is
kept beside the input and output counts; a "~" estimate from the text's length is shown only
when nothing was reported. The model, thinking setting and effort a turn ran with are kept
too. All of it is stored in the message's ``extra`` JSON (keys below, ``thinkpane_*``) except
``ttft_ms`` and ``elapsed_ms``, which have columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Rough size of a token in characters, for the "~" estimates shown when a backend reports
# no usage. Good enough for a status line; never stored as if it were real usage.
CHARS_PER_TOKEN = 4
# Keys in Message.extra (not sent to providers by any built-in backend; they only read their
# own keys). REASONING_MS_KEY is the thinking time; the name predates the segment rule.
REASONING_MS_KEY = "thinkpane_reasoning_ms"
FIRST_REASONING_MS_KEY = "thinkpane_first_reasoning_ms"
ANSWER_MS_KEY = "thinkpane_answer_ms"
REASONING_TOKENS_KEY = "thinkpane_reasoning_tokens"
CACHED_INPUT_TOKENS_KEY = "thinkpane_cached_input_tokens"
CACHE_WRITE_TOKENS_KEY = "thinkpane_cache_write_tokens"
THINKING_KEY = "thinkpane_thinking"
EFFORT_KEY = "thinkpane_effort"


@dataclass
class TurnRecord:
    reasoning: str = ""
    content: str = ""
    status: str = "streaming"  # streaming | complete | cancelled | error | interrupted
    started_at: float | None = None  # clock values, only for a live turn
    first_token_at: float | None = None
    first_reasoning_at: float | None = None
    first_content_at: float | None = None
    ended_at: float | None = None
    # The last stream event that was not a keep-alive, and a keep-alive since then (the
    # chat's stall watchdog reads them).
    last_event_at: float | None = None
    heartbeat_at: float | None = None
    # A reasoning segment open since this clock value (None: not thinking right now), and
    # the seconds of the segments already closed.
    thinking_since: float | None = None
    thinking_s: float = 0.0
    # False: the backend delivers reasoning with the answer (STREAMS_REASONING), so there
    # is no thinking time to measure.
    reasoning_streamed: bool = True
    reasoning_ms: int | None = None  # the thinking time, once the turn ended
    first_reasoning_ms: int | None = None
    answer_ms: int | None = None
    ttft_ms: int | None = None
    elapsed_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    model: str = ""
    thinking: str | None = None  # on | off | auto, when the backend has the switch
    effort: str | None = None
    stop_reason: str | None = None
    stop_explanation: str | None = None
    error_title: str | None = None
    error_detail: str | None = None  # the provider's own words, whole
    error_hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_backend(cls, backend: Any, started_at: float) -> TurnRecord:
        """A live turn of ``backend`` (a ``thinkpane.backends.base.Backend``) starting at
        ``started_at``: with the model and thinking settings it runs with."""
        record = cls(status="streaming", started_at=started_at, model=backend.model,
                     reasoning_streamed=backend.STREAMS_REASONING)
        if backend.switches_thinking():
            reasoning = backend.reasoning
            record.thinking = "off" if reasoning.off else ("on" if reasoning.on else "auto")
            record.effort = reasoning.level
        return record

    @property
    def redacted(self) -> bool:
        """The provider hid (some of) the reasoning, e.g. Bedrock ``redactedContent`` blocks
        kept in ``extra`` as ``{"bedrock_reasoning": [{"redacted": "..."}]}``."""
        return _mentions_redacted(self.extra)

    # ------------------------------------------------------------------ measuring a live turn

    def note_reasoning(self, now: float) -> None:
        """Reasoning text arrived at ``now``."""
        self._first_token(now)
        if self.first_reasoning_at is None:
            self.first_reasoning_at = now
            self.first_reasoning_ms = _ms(now - (self.started_at or now))
        if self.thinking_since is None and self.reasoning_streamed:
            self.thinking_since = now

    def note_content(self, now: float) -> None:
        """Answer text arrived at ``now``: a reasoning segment, if one is open, ends here."""
        self._first_token(now)
        if self.first_content_at is None:
            self.first_content_at = now
        self._close_segment(now)

    def end(self, now: float) -> None:
        """The turn is over: close the timings (safe to call again; the first end counts)."""
        if self.ended_at is not None:
            return
        self.ended_at = now
        self._close_segment(now)
        self.elapsed_ms = _ms(now - (self.started_at or now))
        if self.first_reasoning_at is not None and self.reasoning_streamed:
            self.reasoning_ms = _ms(self.thinking_s)
        if self.first_content_at is not None:
            self.answer_ms = _ms(now - self.first_content_at)

    def _first_token(self, now: float) -> None:
        if self.first_token_at is None:
            self.first_token_at = now
            self.ttft_ms = _ms(now - (self.started_at or now))

    def _close_segment(self, now: float) -> None:
        if self.thinking_since is not None:
            self.thinking_s += max(0.0, now - self.thinking_since)
            self.thinking_since = None

    def reasoning_seconds(self, now: float | None = None) -> float | None:
        """How long the model thought (see the module docstring); with ``now``, a segment still
        open counts until then. None when there is nothing to tell."""
        if self.reasoning_ms is not None:
            return self.reasoning_ms / 1000
        if self.first_reasoning_at is None or not self.reasoning_streamed:
            return None
        open_s = max(0.0, now - self.thinking_since) if self.thinking_since is not None and now is not None else 0.0
        return self.thinking_s + open_s

    def apply_usage(self, usage: Any) -> None:
        """Take what a ``Usage`` event reports (fields it leaves None keep their value:
        a backend may report input and output in separate events)."""
        for name in ("input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens",
                     "cache_write_tokens"):
            value = getattr(usage, name, None)
            if value is not None:
                setattr(self, name, value)

    # ------------------------------------------------------------------ what is shown

    @property
    def reasoning_words(self) -> int:
        return len(self.reasoning.split())

    @property
    def estimated_reasoning_tokens(self) -> int:
        return round(len(self.reasoning) / CHARS_PER_TOKEN)

    def reasoning_tokens_label(self) -> str:
        """Reported reasoning tokens ("1,840"), or "~N" estimated from the text."""
        if self.reasoning_tokens is not None:
            return f"{self.reasoning_tokens:,}"
        return f"~{self.estimated_reasoning_tokens:,}"

    def thought_label(self, now: float | None = None) -> str:
        """"Thought for 12.3 s · 1,840 tokens" ("Reasoning · ~120 tokens" without a time)."""
        seconds = self.reasoning_seconds(now)
        tokens = f"{self.reasoning_tokens_label()} tokens"
        if seconds is None:
            return f"Reasoning · {tokens}"
        return f"Thought for {seconds:.1f} s · {tokens}"

    def output_tokens_label(self) -> str:
        """Reported output tokens, or "~N" estimated from characters."""
        if self.output_tokens is not None:
            return f"{self.output_tokens:,}"
        chars = len(self.reasoning) + len(self.content)
        return f"~{round(chars / CHARS_PER_TOKEN):,}"

    def setting_label(self) -> str:
        """"thinking on · effort high" for the settings the turn ran with ("" if unknown)."""
        if self.thinking is None:
            return ""
        if self.thinking == "off":
            return "thinking off"
        return f"thinking {self.thinking}" + (f" · effort {self.effort}" if self.effort else "")

    def ran_with_label(self) -> str:
        """"deepseek-v4-flash · thinking on · effort high": what this turn ran with."""
        return " · ".join(part for part in (self.model, self.setting_label()) if part)

    def timing_json(self) -> dict[str, int | None]:
        """The timings as ``thinkpane ask --json`` prints them in its stop event."""
        return {"first_token_ms": self.ttft_ms, "first_reasoning_ms": self.first_reasoning_ms,
                "thinking_ms": self.reasoning_ms, "answer_ms": self.answer_ms}

    # ------------------------------------------------------------------ storing

    def setting_extra(self) -> dict[str, Any]:
        """The thinking setting and effort, for the stored message's extra JSON."""
        return {} if self.thinking is None else {THINKING_KEY: self.thinking, EFFORT_KEY: self.effort}

    def measured_extra(self) -> dict[str, Any]:
        """Timings and token details without a column of their own (only those known)."""
        values = {
            REASONING_MS_KEY: self.reasoning_ms,
            FIRST_REASONING_MS_KEY: self.first_reasoning_ms,
            ANSWER_MS_KEY: self.answer_ms,
            REASONING_TOKENS_KEY: self.reasoning_tokens,
            CACHED_INPUT_TOKENS_KEY: self.cached_input_tokens,
            CACHE_WRITE_TOKENS_KEY: self.cache_write_tokens,
        }
        return {key: value for key, value in values.items() if value is not None}

    def save_to(self, writer: Any) -> None:
        """Hand the measured timings and usage to a store ``AnswerWriter`` (before ``finish``)."""
        writer.set_usage(self.input_tokens, self.output_tokens)
        if extra := self.measured_extra():
            writer.merge_extra(extra)
        writer.set_timing(self.ttft_ms, self.elapsed_ms)

    @classmethod
    def from_stored(cls, message: Any) -> TurnRecord:
        """A record for a ``thinkpane.tui.core.store.StoredMessage`` (assistant role)."""
        extra = dict(message.extra or {})
        # Stored as str(BackendError): "title — detail — hint", or "title — hint".
        parts = (message.error or "").split(" — ")
        error_title, error_hint = parts[0], parts[-1] if len(parts) > 1 else ""
        error_detail = " — ".join(parts[1:-1])
        return cls(
            reasoning=message.reasoning or "",
            content=message.content or "",
            status=message.status,
            reasoning_ms=_int(extra.get(REASONING_MS_KEY)),
            first_reasoning_ms=_int(extra.get(FIRST_REASONING_MS_KEY)),
            answer_ms=_int(extra.get(ANSWER_MS_KEY)),
            ttft_ms=message.ttft_ms,
            elapsed_ms=message.elapsed_ms,
            input_tokens=message.input_tokens,
            output_tokens=message.output_tokens,
            reasoning_tokens=_int(extra.get(REASONING_TOKENS_KEY)),
            cached_input_tokens=_int(extra.get(CACHED_INPUT_TOKENS_KEY)),
            cache_write_tokens=_int(extra.get(CACHE_WRITE_TOKENS_KEY)),
            model=getattr(message, "model", "") or "",
            thinking=_str(extra.get(THINKING_KEY)),
            effort=_str(extra.get(EFFORT_KEY)),
            stop_reason=message.stop_reason,
            error_title=error_title or None,
            error_detail=error_detail or None,
            error_hint=error_hint or None,
            extra=extra,
        )


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mentions_redacted(value: Any) -> bool:
    """A truthy ``redacted*`` key anywhere in backend extra data (any backend's layout)."""
    if isinstance(value, dict):
        return any(
            ("redacted" in str(key).lower() and bool(item)) or _mentions_redacted(item)
            for key, item in value.items()
        )
    if isinstance(value, (list, tuple)):
        return any(_mentions_redacted(item) for item in value)
    return False
