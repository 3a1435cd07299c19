"""The session file: what one notebook hands to the next (tokens and their context), aware of expiry.

`<state dir>/session.json`, mode 0600, git-ignored. Asking for a result that is missing, expired or
already used raises SessionError naming the notebook to run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import SessionError
from .formatting import iso_time, relative_time, shorten, span
from .keys import write_private_file

#: The results the notebooks pass on: name -> (the notebook that makes it, its name in prose).
RESULTS = {
    "id_token": ("01_user_sign_in.ipynb", "ID token"),
    "org_access_token": ("01_user_sign_in.ipynb", "org access token"),
    "id_jag": ("02_token_exchange_id_jag.ipynb", "ID-JAG"),
    "access_token": ("03_jwt_bearer_access_token.ipynb", "access token"),
    "origin_access_token": ("06_origin_app_delegation.ipynb", "origin app's access token"),
}

#: A result with less time left than this is treated as expired (a request takes a moment).
MIN_REMAINING = 5


@dataclass
class SessionItem:
    """One stored result: the value, when it expires, who made it, and context for later checks."""

    name: str
    value: str = field(repr=False)
    expires_at: int | None
    saved_at: int
    made_by: str
    used_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Why this result was made again just now, headless (set by `Kit.require`, never stored).
    rerun_note: str | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        expires = f"expires {iso_time(self.expires_at)}" if self.expires_at else "no expiry"
        text = f"SessionItem({self.name}: {shorten(self.value)}, {expires}, from {self.made_by})"
        if self.rerun_note:
            text += f"\n{self.rerun_note}"
        return text


class SessionFile:
    """Read and write `session.json` (mode 0600)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"SessionFile({str(self.path)!r})"

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        write_private_file(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))

    def save(
        self, name: str, value: str, *, expires_at: int | None, made_by: str | None = None, **extra: Any
    ) -> SessionItem:
        """Store a result (replacing an older one of the same name)."""
        item = SessionItem(
            name=name,
            value=value,
            expires_at=int(expires_at) if expires_at is not None else None,
            saved_at=int(time.time()),
            made_by=made_by or RESULTS.get(name, ("this notebook", name))[0],
            extra=dict(extra),
        )
        data = self._read()
        stored = asdict(item)
        stored.pop("rerun_note")
        data[name] = stored
        self._write(data)
        return item

    def peek(self, name: str) -> SessionItem | None:
        """Return a stored result without any check, or None."""
        raw = self._read().get(name)
        if not isinstance(raw, dict):
            return None
        try:
            return SessionItem(**raw)
        except TypeError:
            return None

    def get(
        self,
        name: str,
        *,
        now: int | None = None,
        min_remaining: int = MIN_REMAINING,
        allow_used: bool = False,
    ) -> SessionItem:
        """Return a result that is present, unexpired and (for single-use results) unused.

        Raises:
            SessionError: "Run 01_user_sign_in.ipynb first: the ID token expired 3 min 2 s ago".
        """
        notebook, prose = RESULTS.get(name, ("the notebook that makes it", name))
        now = int(time.time()) if now is None else now
        item = self.peek(name)
        if item is None:
            raise SessionError(f"Run {notebook} first: there is no {prose} in the session file ({self.path})")
        if item.expires_at is not None and item.expires_at - now < min_remaining:
            when = relative_time(item.expires_at, reference=now)
            if item.expires_at > now:
                raise SessionError(f"Run {notebook} again: the {prose} expires {when}, too soon to use")
            raise SessionError(f"Run {notebook} again: the {prose} expired {when}")
        if item.used_at is not None and not allow_used:
            raise SessionError(
                f"Run {notebook} again: the {prose} was already used at {iso_time(item.used_at)} "
                f"({span(now - item.used_at)} ago) and is single use"
            )
        return item

    def mark_used(self, name: str) -> None:
        """Record that a single-use result (the ID-JAG) has been redeemed."""
        data = self._read()
        if name in data:
            data[name]["used_at"] = int(time.time())
            self._write(data)

    def forget(self, *names: str) -> None:
        """Remove some results (or all when no name is given)."""
        data = self._read()
        for name in names or list(data):
            data.pop(name, None)
        self._write(data)

    def names(self) -> list[str]:
        """The names of the stored results, sorted."""
        return sorted(self._read())
