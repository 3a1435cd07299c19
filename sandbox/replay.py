"""Thread-safe, expiring stores that fail closed: `jti` replay caches, codes, sign-in transactions.

- RFC 7523 §3 (a `jti` MAY be used once; Okta refuses a replayed client assertion for its lifetime)
- ID-JAG draft / MCP SEP-990 (ID-JAG replay detection); MCP EMA §7.4.2 (replay detection REQUIRED
  for the assertion's lifetime)
- RFC 6749 §4.1.2 (the authorization code MUST be single use)

A store never forgets an unexpired entry. When it holds `capacity` unexpired entries, adding one
more raises `StoreFull` (with the seconds until its earliest entry expires) instead of evicting a
live one: evicting from a replay cache would let the evicted `jti` be used again, so the guard would
fail open exactly when it is under load. The caller turns `StoreFull` into Okta's rate-limit answer
(`refuse_full`). Expired entries are purged as time passes (a heap of expiry times, amortised O(log n)
per entry), so the memory frees after expiry.

waitress serves requests on several threads: every check-and-set, and the capacity check that goes
with it, happens under the store's one lock.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

from .errors import SandboxError, refuse

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class StoreFull(Exception):
    """A store holds `capacity` unexpired entries; the earliest expires in `retry_after` seconds."""

    def __init__(self, name: str, capacity: int, retry_after: int) -> None:
        super().__init__(f"{name} holds {capacity} unexpired entries; retry in {retry_after} s")
        self.name = name
        self.capacity = capacity
        self.retry_after = retry_after


def refuse_full(full: StoreFull, *, client_id: str | None = None, user_id: str | None = None) -> SandboxError:
    """Build the answer to a request refused because a single-use memory is full (and log it).

    Okta's catalog has one 429 entry, `user_rate_limited` (`invalid_grant`, "API call exceeded rate
    limit due to too many requests."): the answer Okta gives when a client sends more than the org
    accepts, which is what a full memory means here, and the one a client already handles by waiting
    `Retry-After` seconds (RFC 6585 §4, RFC 9110 §10.2.3). The catalog has no 503 or
    `temporarily_unavailable` entry, and a 400 would tell the client its request was wrong.
    """
    return refuse(
        "user_rate_limited",
        headers=[("Retry-After", str(full.retry_after))],
        client_id=client_id,
        user_id=user_id,
        store=full.name,
        capacity=full.capacity,
        retryAfter=full.retry_after,
    )


class ExpiringStore(Generic[K, V]):
    """A dict whose entries vanish at their expiry time, holding at most `capacity` unexpired ones."""

    def __init__(self, name: str, *, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity is {capacity}, expected at least 1")
        self.name = name
        self.capacity = capacity
        self._items: dict[K, tuple[float, V]] = {}
        #: (expires_at, key) of every stored entry; stale pairs (popped or re-stored keys) are dropped
        #: when they reach the top, or when the heap grows past twice the entries (`_compact`).
        self._heap: list[tuple[float, K]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._purge(time.time())
            return len(self._items)

    def _purge(self, now: float) -> None:
        heap, items = self._heap, self._items
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            current = items.get(key)
            if current is not None and current[0] <= now:
                del items[key]
        if len(heap) > 2 * len(items) + 1024:
            self._compact()

    def _compact(self) -> None:
        self._heap = [(expires, key) for key, (expires, _) in self._items.items()]
        heapq.heapify(self._heap)

    def _retry_after(self, now: float) -> int:
        """Seconds until the earliest unexpired entry expires, at least 1 (the store is not empty)."""
        heap, items = self._heap, self._items
        while heap and items.get(heap[0][1], (None,))[0] != heap[0][0]:
            heapq.heappop(heap)  # a stale pair: that key was popped or stored again since
        earliest = heap[0][0] if heap else now + 1
        return max(1, math.ceil(earliest - now))

    def _store(self, key: K, value: V, expires_at: float, now: float) -> None:
        """Store under the lock, after `_purge`; raise StoreFull rather than exceed the capacity."""
        if key not in self._items and len(self._items) >= self.capacity:
            raise StoreFull(self.name, self.capacity, self._retry_after(now))
        self._items[key] = (expires_at, value)
        heapq.heappush(self._heap, (expires_at, key))

    def put(self, key: K, value: V, expires_at: float) -> None:
        """Store `value` under `key` until `expires_at` (epoch seconds); StoreFull if at capacity."""
        now = time.time()
        with self._lock:
            self._purge(now)
            self._store(key, value, expires_at, now)

    def add(self, key: K, value: V, expires_at: float) -> bool:
        """Store `value` unless `key` is present and unexpired; return whether it was stored.

        A present key is reported (False) before the capacity is checked, so a replay gets its replay
        answer even when the store is full; a new key at capacity raises StoreFull.
        """
        now = time.time()
        with self._lock:
            self._purge(now)
            current = self._items.get(key)
            if current is not None and current[0] > now:
                return False
            self._store(key, value, expires_at, now)
            return True

    def get(self, key: K) -> V | None:
        """Return the unexpired value under `key`, or None."""
        with self._lock:
            current = self._items.get(key)
        if current is None or current[0] <= time.time():
            return None
        return current[1]

    def pop(self, key: K) -> V | None:
        """Remove and return the unexpired value under `key`, or None (single use)."""
        with self._lock:
            current = self._items.pop(key, None)
        if current is None or current[0] <= time.time():
            return None
        return current[1]

    def contains(self, key: K) -> bool:
        """True if `key` holds an unexpired value."""
        return self.get(key) is not None


class ReplayCache:
    """Remembers each `jti` until its token stops being accepted; the second use of one is refused.

    Keys are SHA-256 digests of (scope, jti): an entry has the same size whatever the `jti` a client
    chose, so `capacity` entries bound the memory (README "Performance").
    """

    def __init__(self, name: str, *, capacity: int) -> None:
        self._store: ExpiringStore[bytes, bool] = ExpiringStore(name, capacity=capacity)

    @property
    def capacity(self) -> int:
        return self._store.capacity

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def _key(scope: str, jti: str) -> bytes:
        return hashlib.sha256(f"{scope}\x00{jti}".encode("utf-8", "surrogatepass")).digest()

    def seen(self, scope: str, jti: str) -> bool:
        """True if `jti` was already used within `scope` (e.g. a client id or an issuer)."""
        return self._store.contains(self._key(scope, jti))

    def use(
        self, scope: str, jti: str, until: float, *, client_id: str | None = None, user_id: str | None = None
    ) -> bool:
        """Record `jti` as used until `until` (the last instant its token is accepted); False if replayed.

        Raises Okta's 429 (`refuse_full`) when the cache is full and `jti` is new: never forget an
        unexpired one to make room.
        """
        try:
            # One second past the last accepted instant: float rounding never opens a gap.
            return self._store.add(self._key(scope, jti), True, until + 1)
        except StoreFull as full:
            raise refuse_full(full, client_id=client_id, user_id=user_id) from None
