"""Replay memory under load fails closed: a flood of new assertions never makes an old one usable again.

- MCP EMA §7.4.2 (replay detection REQUIRED for the assertion's lifetime), RFC 7523 §3 (`jti`),
  Okta: `client_assertion_already_used` for the assertion's whole lifetime
- Okta's catalog: `user_rate_limited` (429) once the memory is full, with `Retry-After`

The attack of the issue, scaled to a small configured capacity: one assertion used, then many other
distinct, valid ones from the same client (each refused after client authentication), then the first
sent again. Before the fix the cache evicted the entries closest to expiry once full, unexpired or
not, and the first assertion was accepted. Then 16 threads released by a barrier race for the last
place: exactly one gets it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from hardening_support import AGENT, CLIENT_ASSERTION_TYPE, Signer, assert_refusal

from sandbox.testing import RunningSandbox, running_sandbox

CAPACITY = 60
FLOOD = 4 * CAPACITY
THREADS = 16


@pytest.fixture
def small(agent_jwks: Path) -> Iterator[RunningSandbox]:
    """A sandbox whose replay caches hold CAPACITY jtis each."""
    overrides = {"clients": {AGENT: {"jwks_file": str(agent_jwks)}}, "limits": {"replay_capacity": CAPACITY}}
    with running_sandbox(overrides=overrides) as running:
        yield running
        assert running.sandbox.unexpected_errors == 0


def code_request(org: str, assertion: str) -> Callable[[], requests.Response]:
    """A code request without a code: authenticated by `assertion` (its jti remembered), then refused."""
    data = {
        "grant_type": "authorization_code",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    return lambda: requests.post(org + "/oauth2/v1/token", data=data, timeout=30)


def all_at_once(sends: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Send every request from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(sends))

    def run(send: Callable[[], requests.Response]) -> requests.Response:
        barrier.wait(timeout=30)
        return send()

    with ThreadPoolExecutor(max_workers=len(sends)) as pool:
        return list(pool.map(run, sends))


def verdict(answer: requests.Response) -> str:
    """Classify an answer as authenticated (refused after client authentication), replayed or full."""
    if answer.status_code == 400:
        assert_refusal(answer, 400, "invalid_request", "missing_token_request_parameter")
        assert answer.json()["error_description"] == "The required parameter 'code' is missing."
        return "authenticated"
    if answer.status_code == 401:
        assert_refusal(answer, 401, "invalid_client", "client_assertion_already_used")
        return "replayed"
    assert_refusal(answer, 429, "invalid_grant", "user_rate_limited")
    retry_after = int(answer.headers["Retry-After"])
    assert 1 <= retry_after <= 300 + 60 + 1, retry_after  # the assertions' exp + skew + 1 s, at most
    return "full"


def test_a_flood_of_new_assertions_never_makes_a_remembered_one_usable_again(small, signer: Signer) -> None:
    token_url = small.url + "/oauth2/v1/token"
    first = signer.assertion(token_url)
    assert verdict(code_request(small.url, first)()) == "authenticated"
    assert verdict(code_request(small.url, first)()) == "replayed"
    flood = [code_request(small.url, signer.assertion(token_url)) for _ in range(FLOOD)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = Counter(verdict(answer) for answer in pool.map(lambda send: send(), flood))
    assert counts == Counter({"authenticated": CAPACITY - 1, "full": FLOOD - CAPACITY + 1})
    # The first assertion, still minutes from expiry: refused as used, not forgotten and accepted.
    assert verdict(code_request(small.url, first)()) == "replayed"
    reasons = Counter(e["outcome"]["reason"] for e in small.sandbox.events.list())
    assert reasons["user_rate_limited"] == FLOOD - CAPACITY + 1
    assert reasons["client_assertion_already_used"] == 2


def test_16_threads_racing_for_the_last_place_give_exactly_one_success(small, signer: Signer) -> None:
    token_url = small.url + "/oauth2/v1/token"
    used = [signer.assertion(token_url) for _ in range(CAPACITY - 1)]
    for assertion in used:
        assert verdict(code_request(small.url, assertion)()) == "authenticated"
    racers = [code_request(small.url, signer.assertion(token_url)) for _ in range(THREADS)]  # new jtis
    counts = Counter(verdict(a) for a in all_at_once(racers))
    assert counts == Counter({"authenticated": 1, "full": THREADS - 1})
    # Full now: one remembered assertion sent by 16 threads at once is 16 times a replay, never a 429.
    counts = Counter(verdict(a) for a in all_at_once([code_request(small.url, used[0])] * THREADS))
    assert counts == Counter({"replayed": THREADS})
