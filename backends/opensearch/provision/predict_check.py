"""The last provisioning step, ``test``: one short ``_predict`` through the new model.

It proves the whole chain (cluster, connector, DeepSeek key, endpoint trust) before the
user's first chat; a failure is classified like a chat error (wrong key, throttled...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from thinkpane.backends.opensearch.errors import classify
from thinkpane.backends.opensearch.provision.session import Done, Session, Step, Stop, Update
from thinkpane.backends.opensearch.replies import parse_predict

TEST_PROMPT = "Say hello in five words."
DEFAULT_TIMEOUT_S = 330.0  # the backend's request_timeout_s default


async def _test(s: Session) -> AsyncIterator[Update | Done]:
    timeout = s.cs.request_timeout_s if s.cs else DEFAULT_TIMEOUT_S
    body = {"parameters": {"messages": [{"role": "user", "content": TEST_PROMPT}]}}
    result, error = await s.attempt(s.client.plugins.ml.predict_model, model_id=s.state.model_id,
                                    body=body, params={"request_timeout": timeout})
    if error is not None:
        status = error.status_code if isinstance(error.status_code, int) else None
        raise Stop(classify(status, error.info, s.error_context()))
    reply = parse_predict(result)
    if reply.reasoning:
        yield Update("info", "Thinking: " + reply.reasoning[:300])
    yield Done("ok", "Reply: " + (reply.content.strip()[:300] or "(empty answer)"),
               data={"content": reply.content, "reasoning": reply.reasoning,
                     "model_id": s.state.model_id})


TEST = Step("test", "Testing the model with a short prompt", _test)
