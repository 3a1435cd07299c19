"""The sandbox's event log: every grant issued and every refusal, with the reason (Okta: System Log).

DESIGN.md "The sandbox": error bodies are short and exact; this log says why. Each sandbox instance
keeps its own bounded, thread-safe log; `record_refusal` and `record_success` find the instance
serving the current request through Flask's `current_app`.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context, has_request_context, request

if TYPE_CHECKING:
    from .errors import SandboxError

log = logging.getLogger("sandbox.events")


class EventLog:
    """A bounded, thread-safe list of events, newest last."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def record(
        self,
        event_type: str,
        result: str,
        *,
        reason: str | None = None,
        client_id: str | None = None,
        user_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append an event and return it."""
        event = {
            "published": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "eventType": event_type,
            "outcome": {"result": result, "reason": reason},
            "client_id": client_id,
            "user_id": user_id,
            "request": _request_context(),
            "details": dict(details or {}),
        }
        with self._lock:
            event["id"] = next(self._ids)
            self._events.append(event)
        return event

    def list(self, *, since: int = 0) -> list[dict[str, Any]]:
        """Return the events with an id greater than `since`, oldest first."""
        with self._lock:
            return [dict(e) for e in self._events if e["id"] > since]


def _request_context() -> dict[str, Any]:
    if not has_request_context():
        return {}
    return {"method": request.method, "path": request.path}


def _current_log() -> EventLog | None:
    if not has_app_context():
        return None
    state = current_app.extensions.get("sandbox")
    return getattr(state, "events", None)


def _event_type() -> str:
    if not has_request_context():
        return "sandbox"
    return f"sandbox.{request.endpoint or 'unknown'}"


def record_refusal(error: SandboxError) -> None:
    """Record a refusal (outcome FAILURE, reason = Okta's internal error code) and log it."""
    context = dict(error.context)
    client_id = context.pop("client_id", None)
    user_id = context.pop("user_id", None)
    log.info(
        "refused %s: %s (%s %s) client=%s",
        _request_context().get("path", "-"),
        error.internal_code,
        error.status_code,
        error.error,
        client_id,
    )
    events = _current_log()
    if events is None:
        return
    details = {"status": error.status_code, "error": error.error, "error_description": error.description}
    details.update({k: v for k, v in context.items() if v is not None})
    events.record(
        _event_type(),
        "FAILURE",
        reason=error.internal_code,
        client_id=client_id,
        user_id=user_id,
        details=details,
    )


def record_failure(event_type: str, reason: str, *, client_id: str | None = None, **details: Any) -> None:
    """Record a failure that is not an OAuth refusal (e.g. a wrong password on the sign-in page)."""
    log.info("%s failed: %s client=%s", event_type, reason, client_id)
    events = _current_log()
    if events is not None:
        events.record(event_type, "FAILURE", reason=reason, client_id=client_id, details=details)


def record_success(event_type: str, *, client_id: str | None, user_id: str | None, **details: Any) -> None:
    """Record a grant issued (outcome SUCCESS)."""
    events = _current_log()
    if events is not None:
        events.record(event_type, "SUCCESS", client_id=client_id, user_id=user_id, details=details)
