"""Single-use memory fails closed: a full store refuses new credentials and forgets nothing unexpired.

- MCP EMA §7.4.2 (replay detection REQUIRED for the assertion's lifetime), RFC 7523 §3 (`jti`),
  ID-JAG draft (ID-JAG replay), RFC 6749 §4.1.2 (codes are single use)
- Okta's catalog: `user_rate_limited` (429 `invalid_grant`) with `Retry-After` (RFC 6585 §4)

Each kind of single-use credential (client assertion, ID-JAG, authorization code, sign-in page) runs
the same scenario against a sandbox whose store holds 3: fill it; a new one gets the 429 with
`Retry-After` = seconds until the earliest entry expires; every remembered one still gets its exact
answer (a replay its replay error); once they expire, the store frees and a new one is accepted.
Lifetimes are a few seconds (clock skew 0), so each scenario takes about 5 s. The stores themselves
are tested with a fake clock at the end.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sandbox_flows import (
    AGENT,
    ALICE,
    REDIRECT_URI,
    Signer,
    authorize_params,
    now,
    parse_page,
    post,
    shared_overrides,
    sign_in,
    submit_sign_in,
    token_exchange,
)

from sandbox import replay
from sandbox.config import ConfigError, load_config
from sandbox.replay import ExpiringStore, ReplayCache, StoreFull
from sandbox.testing import RunningSandbox, running_sandbox

CATALOG_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "okta-oauth2-errors.json"
CATALOG = {e["internalErrorCode"]: e for e in json.loads(CATALOG_FILE.read_text())["errors"]}
CAPACITY = 3
#: Seconds a credential of the scenarios lives (client assertion `exp`, ID-JAG, code, sign-in page).
LIFETIME = 3


def expected(code: str, status: int | None = None) -> tuple[int, str, str]:
    """(status, error, error_description) of an Okta internal code, read from the copied catalog."""
    entry = CATALOG[code]
    return (status or entry["statusCode"], entry["errorCode"], entry["errorDescription"])


FULL = expected("user_rate_limited")
MISSING_CODE = (400, "invalid_request", "The required parameter 'code' is missing.")


def read(answer: requests.Response) -> tuple[int, str, str]:
    """(status, error, error_description) of a JSON refusal, an HTML error page or an error redirect."""
    if answer.status_code == 302:
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        return 302, query.get("error", ["(none)"])[0], query.get("error_description", ["(none)"])[0]
    if answer.headers.get("Content-Type", "").startswith("text/html"):
        found = dict(re.findall(r'<dd id="(error|error_description)">(.*?)</dd>', answer.text, re.S))
        return answer.status_code, html.unescape(found["error"]), html.unescape(found["error_description"])
    body = answer.json()
    assert set(body) == {"error", "error_description"}, body
    return answer.status_code, body["error"], body["error_description"]


def assert_full(
    answer: requests.Response, earliest: tuple[float, float], sent: float, received: float
) -> None:
    """The capacity answer: 429 `user_rate_limited`, `Retry-After` = seconds until the earliest expiry.

    The sandbox set that expiry within `earliest` (low, high) and read its clock between `sent` and
    `received`, so Retry-After is within ceil(low - received) .. ceil(high - sent), and at least 1.
    """
    assert read(answer) == FULL, answer.text
    low, high = max(1, math.ceil(earliest[0] - received)), max(1, math.ceil(earliest[1] - sent))
    assert low <= int(answer.headers["Retry-After"]) <= high, (answer.headers["Retry-After"], low, high)


@dataclass
class Used:
    """A credential the store remembers, and when it expires there: (low, high) epoch seconds.

    Exact for a jti (its token's `exp` + skew + 1 s); for a code or a sign-in page, the server
    stamped its expiry at some instant of the request that created it.
    """

    value: Any
    until: tuple[float, float]


@dataclass
class Kind:
    """One kind of single-use credential: how to make the store remember one, and what replays get."""

    name: str
    overrides: dict[str, Any]
    #: Make the store remember one new credential; return it (asserting it was accepted).
    remember: Callable[[Scenario], Used]
    #: Send a new credential and return the answer (accepted, or refused when the store is full).
    new: Callable[[Scenario], requests.Response]
    #: True if `new`'s answer is the credential being accepted.
    accepted: Callable[[requests.Response], bool]
    #: Use a remembered credential as the scenario's "replay": a list of (answer, expected answer).
    replay: Callable[[Scenario, Used], list[tuple[requests.Response, tuple[int, str, str]]]]
    #: What a remembered credential gets once it expired (the last one remembered).
    after_expiry: Callable[[Scenario, Used], tuple[requests.Response, tuple[int, str, str]]]
    #: A jti stays remembered once used, so every one is replayed; a code or a sign-in page is freed
    #: by its use, so the last one is left unused, to be seen expiring.
    is_jti: bool


class Scenario:
    """A sandbox whose stores hold CAPACITY entries, and the agent's signer."""

    def __init__(self, sb: RunningSandbox, signer: Signer) -> None:
        self.sb = sb
        self.org = sb.url
        self.signer = signer
        self.token_url = sb.url + "/oauth2/v1/token"
        self._id_token: str | None = None

    def auth_only(self, assertion: str) -> requests.Response:
        """A code request with no code: its client assertion is checked (and remembered), then refused."""
        return post(
            self.token_url,
            {
                "grant_type": "authorization_code",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
        )

    def no_jti_auth(self, aud: str) -> dict[str, str]:
        """Client authentication whose assertion has no `jti` (so it uses no replay memory)."""
        return self.signer.auth(aud, drop=("jti",))

    def id_token(self) -> str:
        if self._id_token is None:
            grant = sign_in(self.org)
            answer = post(
                self.token_url,
                {
                    "grant_type": "authorization_code",
                    "code": grant.code,
                    "redirect_uri": grant.redirect_uri,
                    "code_verifier": grant.verifier,
                    **self.no_jti_auth(self.token_url),
                },
            )
            assert answer.status_code == 200, answer.text
            self._id_token = answer.json()["id_token"]
        return self._id_token

    def id_jag(self) -> str:
        assertion = self.signer.assertion(self.token_url, drop=("jti",))
        answer = token_exchange(self.org, self.signer, self.id_token(), client_assertion=assertion)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def redeem(self, id_jag: str) -> requests.Response:
        custom = self.org + "/oauth2/default/v1/token"
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": id_jag}
        return post(custom, {**data, **self.no_jti_auth(custom)})

    def open_page(self) -> tuple[requests.Response, requests.Session]:
        params, _ = authorize_params()
        session = requests.Session()
        page = session.get(
            self.org + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=10
        )
        return page, session


def _claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


# --- the kinds ---------------------------------------------------------------------------------


def _assertion_remember(s: Scenario) -> Used:
    exp = now() + LIFETIME
    assertion = s.signer.assertion(s.token_url, exp=exp)
    assert read(s.auth_only(assertion)) == MISSING_CODE  # authenticated: the jti is remembered
    return Used(assertion, (exp + 1, exp + 1))  # until exp + clock_skew (0), plus the store's 1 s


def _assertion_replay(s: Scenario, used: Used) -> list[tuple[requests.Response, tuple[int, str, str]]]:
    return [(s.auth_only(used.value), expected("client_assertion_already_used"))]


ASSERTIONS = Kind(
    name="client assertion",
    overrides={"limits": {"replay_capacity": CAPACITY}},
    remember=_assertion_remember,
    new=lambda s: s.auth_only(s.signer.assertion(s.token_url, exp=now() + LIFETIME)),
    accepted=lambda answer: read(answer) == MISSING_CODE,
    replay=_assertion_replay,
    after_expiry=lambda s, used: (s.auth_only(used.value), expected("client_assertion_expired_token")),
    is_jti=True,
)


def _id_jag_remember(s: Scenario) -> Used:
    id_jag = s.id_jag()
    answer = s.redeem(id_jag)
    assert answer.status_code == 200, answer.text
    until = _claims(id_jag)["exp"] + 1  # exp + leeway (the clock skew, 0), plus the store's 1 s
    return Used(id_jag, (until, until))


ID_JAGS = Kind(
    name="ID-JAG",
    # The agent's client assertions carry no jti here, so only ID-JAGs use the replay memory.
    overrides={"limits": {"replay_capacity": CAPACITY}, "lifetimes": {"id_jag": LIFETIME}},
    remember=_id_jag_remember,
    new=lambda s: s.redeem(s.id_jag()),
    accepted=lambda answer: answer.status_code == 200,
    replay=lambda s, used: [(s.redeem(used.value), expected("id_jag_replayed"))],
    after_expiry=lambda s, used: (s.redeem(used.value), expected("id_jag_expired")),
    is_jti=True,
)


def _code_remember(s: Scenario) -> Used:
    before = time.time()
    grant = sign_in(s.org)
    return Used(grant, (before + LIFETIME, time.time() + LIFETIME))


def _code_redeem(s: Scenario, grant: Any) -> requests.Response:
    return post(
        s.token_url,
        {
            "grant_type": "authorization_code",
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.verifier,
            **s.no_jti_auth(s.token_url),
        },
    )


def _code_new(s: Scenario) -> requests.Response:
    params, _ = authorize_params()
    with requests.Session() as session:
        page = session.get(s.org + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=10)
        assert page.status_code == 200, page.text
        return submit_sign_in(session, page.url, page.text, *ALICE)


def _code_replay(s: Scenario, used: Used) -> list[tuple[requests.Response, tuple[int, str, str]]]:
    first = _code_redeem(s, used.value)
    assert first.status_code == 200, first.text  # remembered while the store was full: redeemable once
    return [(_code_redeem(s, used.value), expected("invalid_authorization_code"))]


CODES = Kind(
    name="authorization code",
    overrides={"limits": {"pending_capacity": CAPACITY}, "lifetimes": {"authorization_code": LIFETIME}},
    remember=_code_remember,
    new=_code_new,
    accepted=lambda answer: answer.status_code == 302 and "code=" in answer.headers["Location"],
    replay=_code_replay,
    after_expiry=lambda s, used: (_code_redeem(s, used.value), expected("invalid_authorization_code")),
    is_jti=False,
)


def _page_remember(s: Scenario) -> Used:
    before = time.time()
    page, session = s.open_page()
    assert page.status_code == 200, page.text
    return Used((page, session), (before + LIFETIME, time.time() + LIFETIME))


def _page_submit(s: Scenario, used: Used) -> requests.Response:
    page, session = used.value
    return submit_sign_in(session, page.url, page.text, *ALICE)


def _page_replay(s: Scenario, used: Used) -> list[tuple[requests.Response, tuple[int, str, str]]]:
    first = _page_submit(s, used)
    assert first.status_code == 302 and first.headers["Location"].startswith(REDIRECT_URI + "?code=")
    return [(_page_submit(s, used), expected("request_expired", 400))]


SIGN_IN_PAGES = Kind(
    name="sign-in page",
    overrides={"limits": {"pending_capacity": CAPACITY}, "lifetimes": {"signin_transaction": LIFETIME}},
    remember=_page_remember,
    new=lambda s: s.open_page()[0],
    accepted=lambda answer: answer.status_code == 200 and len(parse_page(answer.text).forms) == 1,
    replay=_page_replay,
    after_expiry=lambda s, used: (_page_submit(s, used), expected("request_expired", 400)),
    is_jti=False,
)

KINDS = [ASSERTIONS, ID_JAGS, CODES, SIGN_IN_PAGES]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_a_full_store_refuses_new_ones_with_a_429_and_forgets_nothing_unexpired(
    agent_jwks_rsa_ec: Path, signer: Signer, kind: Kind
) -> None:
    overrides = {**shared_overrides(agent_jwks_rsa_ec), "lifetimes": {"clock_skew": 0}}
    for key, value in kind.overrides.items():
        overrides[key] = {**overrides.get(key, {}), **value}
    with running_sandbox(overrides=overrides) as sb:
        s = Scenario(sb, signer)
        if kind is ID_JAGS:
            s.id_token()  # before the clock starts: the sign-in is not part of the scenario
        remembered = [kind.remember(s) for _ in range(CAPACITY)]
        earliest = (min(u.until[0] for u in remembered), min(u.until[1] for u in remembered))

        cursor = sb.sandbox.events.cursor()
        sent = time.time()
        full = kind.new(s)
        assert_full(full, earliest, sent, time.time())
        refusals = [e for e in sb.sandbox.events.list(since=cursor) if e["outcome"]["result"] == "FAILURE"]
        assert [e["outcome"]["reason"] for e in refusals] == ["user_rate_limited"]
        assert refusals[0]["actor"]["id"] == AGENT

        # Every remembered one still gets its exact answer while the store is full (a replay: refused).
        for used in remembered if kind.is_jti else remembered[:-1]:
            for answer, wanted in kind.replay(s, used):
                assert read(answer) == wanted, answer.text
        if kind.is_jti:  # a used jti stays remembered until it expires: the store is still full
            sent = time.time()
            assert_full(kind.new(s), earliest, sent, time.time())

        # Expired, they free their place: a new one is accepted, and an old one is refused as expired.
        time.sleep(max(0.0, max(u.until[1] for u in remembered) - time.time()) + 0.2)
        assert kind.accepted(kind.new(s))
        answer, wanted = kind.after_expiry(s, remembered[-1])
        assert read(answer) == wanted, answer.text
        assert sb.sandbox.unexpected_errors == 0


def test_a_replayed_assertion_gets_its_replay_error_before_the_capacity_answer(
    agent_jwks_rsa_ec: Path, signer: Signer
) -> None:
    overrides = {**shared_overrides(agent_jwks_rsa_ec), "limits": {"replay_capacity": 1}}
    with running_sandbox(overrides=overrides) as sb:
        s = Scenario(sb, signer)
        first = signer.assertion(s.token_url)
        assert read(s.auth_only(first)) == MISSING_CODE
        assert read(s.auth_only(signer.assertion(s.token_url))) == FULL  # full: a new jti
        assert read(s.auth_only(first)) == expected("client_assertion_already_used")  # seen first


def test_a_client_assertion_is_remembered_exactly_as_long_as_it_is_accepted(
    agent_jwks_rsa_ec: Path, signer: Signer
) -> None:
    """Assertions at the furthest accepted `exp` fill the memory for max_ahead + skew: no longer."""
    overrides = {
        **shared_overrides(agent_jwks_rsa_ec),
        "limits": {"replay_capacity": 1},
        "lifetimes": {"client_assertion_max_ahead": 2, "clock_skew": 1},
    }
    with running_sandbox(overrides=overrides) as sb:
        s = Scenario(sb, signer)
        furthest = now() + 2 + 1  # max_ahead + skew: the latest exp accepted (to the second)
        assert read(s.auth_only(signer.assertion(s.token_url, exp=furthest + 2))) == expected(
            "client_assertion_expires_too_far_in_future"
        )  # refused before it is remembered: it took no place
        first = signer.assertion(s.token_url, exp=furthest)
        assert read(s.auth_only(first)) == MISSING_CODE
        sent = time.time()
        # Remembered until exp + skew (the last instant it is accepted), plus the store's 1 s.
        until = furthest + 1 + 1
        fresh = signer.assertion(s.token_url, exp=now() + 2)
        assert_full(s.auth_only(fresh), (until, until), sent, time.time())
        time.sleep(max(0.0, furthest + 2 - time.time()) + 0.2)
        assert read(s.auth_only(first)) == expected("client_assertion_expired_token")
        assert read(s.auth_only(signer.assertion(s.token_url, exp=now() + 2))) == MISSING_CODE


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("replay_capacity", 0, "config.limits.replay_capacity is 0, expected an integer >= 1"),
        ("replay_capacity", "many", "config.limits.replay_capacity is 'many', expected an integer >= 1"),
        ("pending_capacity", -5, "config.limits.pending_capacity is -5, expected an integer >= 1"),
        ("pending_capacity", 2.5, "config.limits.pending_capacity is 2.5, expected an integer >= 1"),
        ("pending_capacity", True, "config.limits.pending_capacity is True, expected an integer >= 1"),
    ],
)
def test_a_bad_capacity_is_a_config_error_naming_it(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(overrides={"limits": {key: value}})
    assert str(raised.value) == message


def test_the_default_capacities_hold_a_training_room() -> None:
    config = load_config()
    # default.toml: 30 people x a flow every 2 s x 3 assertions over an hour's window = 162,000.
    assert config.replay_capacity == 200_000 >= 30 * 1800 * 3
    # 30 people opening a sign-in page every 2 s, each page living 10 minutes = 9,000.
    assert config.pending_capacity == 20_000 >= 30 * (config.lifetimes.signin_transaction // 2)


# --- the stores, with a fake clock ---------------------------------------------------------------


class Clock:
    """A stand-in for the `time` module inside sandbox.replay."""

    def __init__(self, at: float = 1_000_000.0) -> None:
        self.at = at

    def time(self) -> float:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(replay, "time", fake)
    return fake


def test_a_full_store_raises_with_the_seconds_until_its_earliest_entry_expires(clock: Clock) -> None:
    store: ExpiringStore[str, int] = ExpiringStore("codes", capacity=3)
    store.put("a", 1, clock.at + 30.2)
    store.put("b", 2, clock.at + 10.5)
    store.put("c", 3, clock.at + 20)
    with pytest.raises(StoreFull) as raised:
        store.put("d", 4, clock.at + 60)
    assert (raised.value.name, raised.value.capacity, raised.value.retry_after) == ("codes", 3, 11)
    assert [store.get(k) for k in "abcd"] == [1, 2, 3, None]  # nothing was evicted
    store.put("b", 5, clock.at + 40)  # replacing a present key takes no new place
    assert store.get("b") == 5
    clock.at += 20.5  # "c" expired; "b" was stored again until +40, so the stale +10.5 is ignored
    store.put("d", 4, clock.at + 60)
    assert [store.get(k) for k in "abcd"] == [1, 5, None, 4]
    with pytest.raises(StoreFull) as raised:
        store.put("e", 6, clock.at + 60)
    assert raised.value.retry_after == 10  # "a" at +30.2 from the start, now +20.5: ceil(9.7)


def test_a_popped_entry_frees_its_place_and_retry_after_skips_it(clock: Clock) -> None:
    store: ExpiringStore[str, int] = ExpiringStore("pages", capacity=2)
    store.put("a", 1, clock.at + 5)
    store.put("b", 2, clock.at + 50)
    assert store.pop("a") == 1
    assert store.pop("a") is None  # single use
    store.put("c", 3, clock.at + 80)
    with pytest.raises(StoreFull) as raised:
        store.put("d", 4, clock.at + 90)
    assert raised.value.retry_after == 50  # not 5: "a" is gone
    clock.at += 0.5
    with pytest.raises(StoreFull) as raised:
        store.put("d", 4, clock.at + 90)
    assert raised.value.retry_after == 50  # ceil(49.5); at least 1 always


@pytest.mark.parametrize(
    ("uses", "expected_results", "expected_len"),
    [
        # (jti, seconds from the start) -> True (stored), False (a replay), "429 N" (full, Retry-After N).
        # Each jti is remembered until 10 s after its use (`until` 9 s, plus the store's 1 s).
        ([("a", 0), ("a", 1)], [True, False], 1),
        ([("a", 0), ("b", 0), ("c", 0)], [True, True, "429 10"], 2),
        ([("a", 0), ("b", 0), ("a", 0), ("c", 3), ("b", 9)], [True, True, False, "429 7", False], 2),
        ([("a", 0), ("b", 0), ("c", 10), ("a", 10)], [True, True, True, True], 2),
        ([("a", 0), ("b", 5), ("c", 10.5), ("d", 10.5)], [True, True, True, "429 5"], 2),
    ],
    ids=["replay", "full", "replay-before-full", "expired-freed", "one-freed"],
)
def test_the_replay_cache_checks_seen_before_full_and_frees_expired_entries(
    clock: Clock, uses: list[tuple[str, float]], expected_results: list[object], expected_len: int
) -> None:
    cache = ReplayCache("client_assertion", capacity=2)
    start = clock.at
    results: list[object] = []
    for jti, at in uses:
        clock.at = start + at
        try:
            results.append(cache.use("client", jti, clock.at + 9))
        except replay.SandboxError as refusal:
            assert (refusal.status_code, refusal.error, refusal.description) == FULL
            assert refusal.internal_code == "user_rate_limited"
            retry_after = [v for k, v in refusal.extra_headers if k == "Retry-After"]
            results.append(f"429 {retry_after[0]}")
    assert results == expected_results
    assert len(cache) == expected_len


def test_the_replay_cache_keys_have_one_size_whatever_the_jti(clock: Clock) -> None:
    cache = ReplayCache("id_jag", capacity=4)
    assert cache.use("issuer", "x" * 50_000, clock.at + 60) is True
    assert cache.use("issuer", "x" * 50_000, clock.at + 60) is False
    assert cache.use("other issuer", "x" * 50_000, clock.at + 60) is True  # scopes are apart
    assert cache.seen("issuer", "x" * 50_000) and not cache.seen("issuer", "y")
    assert {len(key) for key in cache._store._items} == {32}


def test_the_heap_of_expiry_times_stays_bounded_under_pop_and_put(clock: Clock) -> None:
    store: ExpiringStore[str, int] = ExpiringStore("pages", capacity=10)
    for i in range(20_000):  # each page used at once: the store holds one, the heap must not grow
        store.put(f"k{i}", i, clock.at + 600)
        assert store.pop(f"k{i}") == i
    assert len(store) == 0
    assert len(store._heap) <= 2 * len(store._items) + 1024 + 1
