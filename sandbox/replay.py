"""Thread-safe, expiring stores: replay caches for `jti`s, authorization codes, sign-in transactions.

- RFC 7523 §3 (a `jti` MAY be used once), ID-JAG draft / MCP SEP-990 (ID-JAG replay detection)
- RFC 6749 §4.1.2 (the authorization code MUST be single use)

waitress serves requests on several threads: every check-and-set here happens under one lock.
"""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

V = TypeVar("V")


class ExpiringStore(Generic[V]):
    """A dict whose entries vanish at their expiry time; `pop` and `add` are atomic."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._items: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._next_purge = 0.0

    def __len__(self) -> int:
        with self._lock:
            self._purge(time.time(), force=True)
            return len(self._items)

    def _purge(self, now: float, *, force: bool = False) -> None:
        if not force and now < self._next_purge and len(self._items) < self._max_entries:
            return
        self._items = {k: v for k, v in self._items.items() if v[0] > now}
        self._next_purge = now + 30
        if len(self._items) >= self._max_entries:
            # Drop the entries closest to expiry rather than grow without bound.
            keep = sorted(self._items.items(), key=lambda kv: kv[1][0])[len(self._items) // 10 :]
            self._items = dict(keep)

    def put(self, key: str, value: V, expires_at: float) -> None:
        """Store `value` under `key` until `expires_at` (epoch seconds)."""
        with self._lock:
            self._purge(time.time())
            self._items[key] = (expires_at, value)

    def add(self, key: str, value: V, expires_at: float) -> bool:
        """Store `value` unless `key` is present and unexpired; return whether it was stored."""
        now = time.time()
        with self._lock:
            self._purge(now)
            current = self._items.get(key)
            if current is not None and current[0] > now:
                return False
            self._items[key] = (expires_at, value)
            return True

    def get(self, key: str) -> V | None:
        """Return the unexpired value under `key`, or None."""
        with self._lock:
            current = self._items.get(key)
        if current is None or current[0] <= time.time():
            return None
        return current[1]

    def pop(self, key: str) -> V | None:
        """Remove and return the unexpired value under `key`, or None (single use)."""
        with self._lock:
            current = self._items.pop(key, None)
        if current is None or current[0] <= time.time():
            return None
        return current[1]

    def contains(self, key: str) -> bool:
        """True if `key` holds an unexpired value."""
        return self.get(key) is not None


class ReplayCache:
    """Remembers each `jti` until its token expires; the second use of one is refused."""

    def __init__(self) -> None:
        self._store: ExpiringStore[bool] = ExpiringStore()

    def seen(self, scope: str, jti: str) -> bool:
        """True if `jti` was already used within `scope` (e.g. a client id or an issuer)."""
        return self._store.contains(f"{scope}\x00{jti}")

    def use(self, scope: str, jti: str, expires_at: float) -> bool:
        """Record `jti` as used until `expires_at`; False if it was already used (a replay)."""
        # Keep entries at least a minute, so a token with a past exp inside the skew is covered.
        return self._store.add(f"{scope}\x00{jti}", True, max(expires_at, time.time() + 60))
