"""Pictures of the flow, drawn from the reader's own tokens and request log: SVG, with a text twin.

- The audience and scope shift: the ID token, the ID-JAG and the access token side by side (`typ`,
  `iss`, `aud`, `sub`, the client, scopes, lifetime), each value that changed from the token before
  highlighted (ID-JAG -04 §3.1, RFC 9068 §2.2, OIDC Core §2).
- A sequence diagram of the flow from the request log: who called whom, with which grant, what came
  back, how long it took.
- A timeline of the tokens' lifetimes on one axis, with "now".

Each picture is an `image/svg+xml` output (plain SVG: no JavaScript, no fonts or images fetched, so it
renders in JupyterLab and in a static export offline) with a `text/plain` rendering of the same facts,
which is what nbval compares and what a reader without images sees. The text never pads a column
after a value whose length varies (ports, times), so stored and fresh outputs compare after sanitizing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

from ..constants import GRANT_JWT_BEARER, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ID_JAG
from ..core.errors import TokenValidationError
from ..core.formatting import iso_time, relative_time, span
from ..core.formatting import now as current_time
from ..core.jwts import decode_unverified

#: The notebooks whose request logs make up the flow, in order.
FLOW_PHASES = (
    "01_user_sign_in",
    "02_token_exchange_id_jag",
    "03_jwt_bearer_access_token",
    "04_call_the_api",
)

_FONT = "font-family='DejaVu Sans Mono, Menlo, Consolas, monospace'"
_CHAR = 7.0  # approximate width of one character at 12 px monospace
_HIGHLIGHT = "#fff1a8"
_INK = "#1f2933"
_MUTED = "#66727f"
_LINE = "#c5ccd3"
_COLORS = ("#3b6fd4", "#c2571a", "#2f8f4e", "#8a4fbf", "#b8333f")


class Picture:
    """An SVG picture and a text rendering of the same facts (Jupyter shows the SVG; nbval the text)."""

    def __init__(self, title: str, svg: str, text: str) -> None:
        self.title = title
        self.svg = svg
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/svg+xml": self.svg, "text/plain": self.text}

    def __repr__(self) -> str:
        return self.text


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    w, h = int(width), int(height)
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' viewBox='0 0 {w} {h}' "
        f"role='img' aria-label={quoteattr(title)}>"
        f"<title>{escape(title)}</title>"
        f"<rect x='0' y='0' width='{w}' height='{h}' fill='white'/>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, value: str, *, size: int = 12, weight: str = "normal", fill: str = _INK,
          anchor: str = "start") -> str:  # fmt: skip
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' font-weight='{weight}' fill='{fill}' "
        # A white halo keeps a label readable where it crosses a line.
        f"text-anchor='{anchor}' stroke='white' stroke-width='3' paint-order='stroke' {_FONT}>"
        f"{escape(value)}</text>"
    )


# --- The audience and scope shift --------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftRow:
    """One row of the shift table: a claim and its value in each token."""

    name: str
    values: tuple[str, ...]

    def changed(self, index: int) -> bool:
        """True when the value at `index` differs from the token before it."""
        return index > 0 and self.values[index] != self.values[index - 1]


def _claims(token: str, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return decode_unverified(token, what=what)
    except TokenValidationError:
        return {}, {}


def _joined(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "(none)"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _lifetime(claims: Mapping[str, Any]) -> str:
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, (int, float)) and isinstance(iat, (int, float)):
        return span(exp - iat) if exp >= iat else f"-{span(iat - exp)}"
    return "(unknown)"


def shift_rows(tokens: Sequence[tuple[str, str]]) -> list[ShiftRow]:
    """Return the rows of the shift table for (name, JWT) pairs, in order."""
    decoded = [_claims(token, name) for name, token in tokens]

    def client(claims: Mapping[str, Any]) -> str:
        for member in ("cid", "client_id", "azp"):
            if claims.get(member):
                return f"{claims[member]} ({member})"
        aud = claims.get("aud")
        return f"{_joined(aud)} (aud)" if aud else "(none)"

    def scopes(claims: Mapping[str, Any]) -> str:
        value = claims.get("scp", claims.get("scope"))
        if isinstance(value, str):
            value = value.split()
        return " ".join(sorted(value)) if value else "(none)"

    rows = [
        ShiftRow('header "typ"', tuple(_joined(h.get("typ")) for h, _ in decoded)),
        ShiftRow('"iss"', tuple(_joined(c.get("iss")) for _, c in decoded)),
        ShiftRow('"aud"', tuple(_joined(c.get("aud")) for _, c in decoded)),
        ShiftRow('"sub"', tuple(_joined(c.get("sub")) for _, c in decoded)),
        ShiftRow("client", tuple(client(c) for _, c in decoded)),
        ShiftRow("scopes", tuple(scopes(c) for _, c in decoded)),
        ShiftRow("lifetime", tuple(_lifetime(c) for _, c in decoded)),
    ]
    if any("uid" in c for _, c in decoded):
        rows.insert(4, ShiftRow('"uid"', tuple(_joined(c.get("uid")) for _, c in decoded)))
    return rows


def token_shift(tokens: Sequence[tuple[str, str]], *, title: str | None = None) -> Picture:
    """Draw the tokens side by side, highlighting each value that changed from the token before.

    Args:
        tokens: (name, JWT) pairs in flow order, e.g. ID token, ID-JAG, access token.
    """
    names = [name for name, _ in tokens]
    title = title or "The audience and scope shift: " + " → ".join(names)
    rows = shift_rows(tokens)
    # Text: one line per (row, token), labels padded to a constant width, values last.
    width = max(len(n) for n in names)
    lines = [title, "(* = changed from the token before)"]
    for row in rows:
        lines.append(row.name)
        for index, name in enumerate(names):
            mark = "  *" if row.changed(index) else ""
            lines.append(f"  {name.ljust(width)}  {row.values[index]}{mark}")
    # SVG: a table, changed cells filled.
    label_w = max(len(r.name) for r in rows) * _CHAR + 24
    col_w = [max(len(names[i]), *(len(r.values[i]) for r in rows)) * _CHAR + 24 for i in range(len(names))]
    row_h, top = 26, 52
    total_w = label_w + sum(col_w) + 16
    total_h = top + row_h * (len(rows) + 1) + 30
    body = [_text(8, 22, title, size=14, weight="bold")]
    x = label_w + 8
    for i, name in enumerate(names):
        body.append(_text(x + 8, top + 17, name, weight="bold", fill=_COLORS[i % len(_COLORS)]))
        x += col_w[i]
    for r, row in enumerate(rows):
        y = top + row_h * (r + 1)
        body.append(f"<line x1='8' y1='{y}' x2='{total_w - 8:.0f}' y2='{y}' stroke='{_LINE}'/>")
        body.append(_text(16, y + 17, row.name, fill=_MUTED))
        x = label_w + 8
        for i, value in enumerate(row.values):
            if row.changed(i):
                body.append(
                    f"<rect x='{x + 2:.1f}' y='{y + 2}' width='{col_w[i] - 4:.1f}' height='{row_h - 4}' "
                    f"fill='{_HIGHLIGHT}' rx='3'/>"
                )
            body.append(_text(x + 8, y + 17, value))
            x += col_w[i]
    body.append(
        _text(8, total_h - 10, "highlighted: changed from the token to its left", size=11, fill=_MUTED)
    )
    return Picture(title, _svg(total_w, total_h, title, body), "\n".join(lines))


# --- The sequence diagram -----------------------------------------------------------------------------

BROWSER = "User's browser"
AGENT = "Agent (the kit)"
ORG = "Org authorization server"
API = "API"


def _short(name: str) -> str:
    """A participant's name for the diagram's boxes (the text keeps the long one)."""
    return name.replace("authorization server", "auth server")


_GRANTS = {
    "authorization_code": "authorization code + PKCE",
    GRANT_TOKEN_EXCHANGE: "token exchange (RFC 8693)",
    GRANT_JWT_BEARER: "JWT bearer grant (RFC 7523)",
}


@dataclass(frozen=True)
class Step:
    """One request of the log as the diagram shows it."""

    source: str
    target: str
    request: str
    answer: str
    elapsed_ms: int | None
    discovery: bool = False


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _answer(record: Mapping[str, Any], path: str) -> str:
    status = record.get("status")
    body = record.get("response_body")
    body = body if isinstance(body, dict) else {}
    if isinstance(status, int) and status >= 400:
        return f"{status} {body.get('error', '')}".strip()
    if path.endswith("/authorize"):
        return f"{status} redirect with a code" if status in (302, 303) else f"{status} sign-in page"
    if body.get("issued_token_type") == TOKEN_TYPE_ID_JAG:
        return f"{status} ID-JAG"
    if "id_token" in body:
        return f"{status} ID token + access token"
    if "access_token" in body:
        scope = body.get("scope")
        return f"{status} access token" + (f" ({scope})" if scope else "")
    return f"{status}"


def classify(record: Mapping[str, Any]) -> Step | None:
    """Turn one request-log record into a diagram step (None for requests outside the flow)."""
    url = str(record.get("url", ""))
    path = _path(url)
    method = str(record.get("method", "GET"))
    form = record.get("form") if isinstance(record.get("form"), dict) else {}
    elapsed = record.get("elapsed_ms")
    elapsed = elapsed if isinstance(elapsed, int) else None
    if path.startswith("/api/v1/logs"):
        return None
    answer = _answer(record, path)
    parts = path.strip("/").split("/")
    server = ORG
    if len(parts) >= 2 and parts[0] == "oauth2" and parts[1] != "v1":
        server = f"Custom authorization server ({parts[1]})"
    if ".well-known" in path or path.endswith("/keys"):
        target = ORG if path.startswith("/.well-known/openid") else server
        if path.startswith("/.well-known/oauth-protected-resource"):
            target = API
        return Step(AGENT, target, f"{method} {path}", answer, elapsed, discovery=True)
    if path.endswith("/authorize"):
        what = "(sign-in page)" if method == "GET" else "(username, password)"
        return Step(BROWSER, ORG, f"{method} {path} {what}", answer, elapsed)
    if path.endswith("/v1/token"):
        grant = _GRANTS.get(str(form.get("grant_type")), str(form.get("grant_type") or "no grant_type"))
        return Step(AGENT, server, f"{method} {path}: {grant}", answer, elapsed)
    return Step(AGENT, API, f"{method} {path}", answer, elapsed)


def read_flow_log(log_dir: Path, phases: Iterable[str] = FLOW_PHASES) -> list[dict[str, Any]]:
    """Read the request logs (`<state dir>/logs/<phase>.jsonl`) of the flow's notebooks, in order."""
    records: list[dict[str, Any]] = []
    for phase in phases:
        path = Path(log_dir) / f"{phase}.jsonl"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                records.append(item)
    return records


def sequence_diagram(
    records: Sequence[Mapping[str, Any]], *, include_discovery: bool = False, title: str | None = None
) -> Picture:
    """Draw who called whom, with which grant, what came back and how long it took, from a request log."""
    steps_all = [s for s in (classify(r) for r in records) if s is not None]
    steps = [s for s in steps_all if include_discovery or not s.discovery]
    left_out = len(steps_all) - len(steps)
    title = title or "The flow as it ran: the request log of notebooks 01 to 04"
    participants: list[str] = []
    for name in (BROWSER, AGENT, ORG):
        if any(name in (s.source, s.target) for s in steps):
            participants.append(name)
    for step in steps:
        for name in (step.source, step.target):
            if name not in participants and name != API:
                participants.append(name)
    if any(API in (s.source, s.target) for s in steps):
        participants.append(API)

    def ms(step: Step) -> str:
        return f"{step.elapsed_ms} ms" if step.elapsed_ms is not None else "? ms"

    lines = [
        title,
        f"{len(steps)} request(s)"
        + (f"; {left_out} discovery and key request(s) left out" if left_out else ""),
    ]
    for number, step in enumerate(steps, 1):
        lines.append(f"{number:>2}. {step.source} -> {step.target}: {step.request}")
        lines.append(f"    <- {step.answer} ({ms(step)})")
    # SVG: lifelines, then one solid request arrow and one dashed answer arrow per step.
    # Columns wide enough for the participants' names (11 px) and a one-column label (10 px).
    col = max(200.0, max((len(_short(p)) for p in participants), default=10) * 7.0 + 24)
    xs = {p: 20 + col / 2 + i * col for i, p in enumerate(participants)}
    width = 40 + col * max(len(participants), 1)
    top, row = 70, 46
    height = top + row * len(steps) + 40
    body = [_text(12, 22, title, size=14, weight="bold")]
    for i, p in enumerate(participants):
        x = xs[p]
        body.append(
            f"<rect x='{x - col / 2 + 8:.1f}' y='32' width='{col - 16:.1f}' height='24' rx='4' "
            f"fill='#eef2f7' stroke='{_LINE}'/>"
        )
        body.append(
            _text(x, 48, _short(p), size=11, weight="bold", anchor="middle", fill=_COLORS[i % len(_COLORS)])
        )
        body.append(
            f"<line x1='{x:.1f}' y1='56' x2='{x:.1f}' y2='{height - 20}' stroke='{_LINE}' "
            "stroke-dasharray='2 3'/>"
        )
    body.append(
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
        f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{_INK}'/></marker></defs>"
    )
    for number, step in enumerate(steps, 1):
        y = top + row * (number - 1) + 14
        x1, x2 = xs[step.source], xs[step.target]
        failed = step.answer[:1] in ("4", "5")
        body.append(
            f"<line x1='{x1:.1f}' y1='{y}' x2='{x2:.1f}' y2='{y}' stroke='{_INK}' marker-end='url(#arrow)'/>"
        )
        body.append(_text((x1 + x2) / 2, y - 4, f"{number}. {step.request}", size=10, anchor="middle"))
        y2 = y + 20
        stroke = "#b8333f" if failed else _MUTED
        body.append(
            f"<line x1='{x2:.1f}' y1='{y2}' x2='{x1:.1f}' y2='{y2}' stroke='{stroke}' "
            "stroke-dasharray='5 3' marker-end='url(#arrow)'/>"
        )
        body.append(
            _text(
                (x1 + x2) / 2,
                y2 - 4,
                f"{step.answer} · {ms(step)}",
                size=10,
                anchor="middle",
                fill="#b8333f" if failed else _MUTED,
            )  # fmt: skip
        )
    return Picture(title, _svg(width, height, title, body), "\n".join(lines))


# --- The timeline ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifetime:
    """A token's life: issued at, expires at, and a note (e.g. "redeemed")."""

    name: str
    iat: int
    exp: int
    note: str = ""


def lifetimes(tokens: Sequence[tuple[str, str]], notes: Mapping[str, str] | None = None) -> list[Lifetime]:
    """Read `iat` and `exp` of (name, JWT) pairs; tokens without both are left out."""
    out = []
    for name, token in tokens:
        _, claims = _claims(token, name)
        iat, exp = claims.get("iat"), claims.get("exp")
        if isinstance(iat, (int, float)) and isinstance(exp, (int, float)):
            out.append(Lifetime(name, int(iat), int(exp), (notes or {}).get(name, "")))
    return out


def token_timeline(
    tokens: Sequence[tuple[str, str]],
    *,
    now: int | None = None,
    notes: Mapping[str, str] | None = None,
    title: str = "The tokens' lifetimes on one time axis",
) -> Picture:
    """Draw each token's life from `iat` to `exp` on one axis, with a line at "now"."""
    now = current_time() if now is None else int(now)
    items = lifetimes(tokens, notes)
    lines = [title, f"now: {iso_time(now)}"]
    width_name = max((len(i.name) for i in items), default=0)
    for item in items:
        note = f"; {item.note}" if item.note else ""
        lines.append(
            f"  {item.name.ljust(width_name)}  iat {iso_time(item.iat)}  exp {iso_time(item.exp)}"
            f"  lifetime {span(item.exp - item.iat)}  (exp {relative_time(item.exp, reference=now)}{note})"
        )
    start = min([i.iat for i in items] + [now])
    end = max([i.exp for i in items] + [now])
    end = end if end > start else start + 1
    label_w, axis_w, row = 130.0, 640.0, 46
    top = 48
    height = top + row * len(items) + 56
    width = label_w + axis_w + 40

    def x_of(t: float) -> float:
        return label_w + (t - start) / (end - start) * axis_w

    body = [_text(8, 22, title, size=14, weight="bold")]
    for index, item in enumerate(items):
        y = top + index * row
        color = _COLORS[index % len(_COLORS)]
        x1, x2 = x_of(item.iat), x_of(item.exp)
        body.append(_text(8, y + 16, item.name, weight="bold", fill=color))
        body.append(
            f"<rect x='{x1:.1f}' y='{y + 4}' width='{max(x2 - x1, 2):.1f}' height='16' rx='3' "
            f"fill={quoteattr(color)} fill-opacity='0.25' stroke={quoteattr(color)}/>"
        )
        state = "expired" if item.exp <= now else "not expired"
        label = f"{span(item.exp - item.iat)}, {state}" + (f", {item.note}" if item.note else "")
        # Under its bar, never over it: from the bar's start, or ending at the axis' end if that is nearer.
        fits = x1 + 5.6 * len(label) < label_w + axis_w
        body.append(_text(x1 if fits else label_w + axis_w, y + 34, label, size=10, fill=_MUTED,
                          anchor="start" if fits else "end"))  # fmt: skip
    axis_y = top + row * len(items) + 8
    body.append(f"<line x1='{label_w}' y1='{axis_y}' x2='{label_w + axis_w}' y2='{axis_y}' stroke='{_INK}'/>")
    for t, anchor in ((start, "start"), (end, "end")):
        body.append(
            _text(x_of(t), axis_y + 16, iso_time(t)[11:19] + " UTC", size=10, fill=_MUTED, anchor=anchor)
        )
    xn = x_of(now)
    body.append(
        f"<line x1='{xn:.1f}' y1='{top - 6}' x2='{xn:.1f}' y2='{axis_y + 4}' "
        "stroke='#b8333f' stroke-width='2'/>"
    )
    body.append(_text(xn, top - 10, "now", size=11, weight="bold", fill="#b8333f", anchor="middle"))
    return Picture(title, _svg(width, height, title, body), "\n".join(lines))


# --- From the kit: the session file and the request logs -----------------------------------------------

#: Session file names and how the pictures call them.
SESSION_TOKENS = (("id_token", "ID token"), ("id_jag", "ID-JAG"), ("access_token", "access token"))


def session_tokens(kit: Any) -> list[tuple[str, str]]:
    """The flow's tokens from the session file (used or expired ones too), as (name, JWT) pairs."""
    out = []
    for key, name in SESSION_TOKENS:
        item = kit.session.peek(key)
        if item is not None:
            out.append((name, item.value))
    return out


def shift_from_session(kit: Any) -> Picture:
    """The audience and scope shift of the reader's own tokens (from the session file)."""
    return token_shift(session_tokens(kit))


def timeline_from_session(kit: Any, *, now: int | None = None) -> Picture:
    """The lifetimes of the reader's own tokens, with now; the ID-JAG marked when it was redeemed."""
    notes = {}
    item = kit.session.peek("id_jag")
    if item is not None and item.used_at is not None:
        notes["ID-JAG"] = "redeemed (single use)"
    return token_timeline(session_tokens(kit), now=now, notes=notes)


def sequence_from_logs(kit: Any, *, include_discovery: bool = False) -> Picture:
    """The sequence diagram of the flow from the request logs of notebooks 01 to 04."""
    state_dir = kit.settings.state_dir or kit.settings.home / ".kit"
    return sequence_diagram(read_flow_log(Path(state_dir) / "logs"), include_discovery=include_discovery)
