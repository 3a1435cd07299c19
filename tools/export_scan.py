"""The export's secret scan: refuse to publish private keys, whole JWTs, client secrets or API tokens.

Exports are published as reference documentation, so nothing they hold may be a credential. The scan
reads every output of an export before anything is written (the executed notebooks cell by cell,
their widget state, and the HTML and Markdown text) and names, for each finding, the notebook, the
cell and the kind of secret, never the secret itself: a few leading characters and its length.

What counts as a secret, and where the shapes come from:

- RFC 7468 §10, §11: a PEM block labelled `PRIVATE KEY` (also `RSA PRIVATE KEY`, `EC PRIVATE KEY`).
- RFC 7518 §6.2.2.1, §6.3.2.1: a JWK holding the private member `"d"`.
- RFC 7515 §7.1: a JWS compact serialization, three base64url segments joined by dots; it is a
  whole token when its header decodes to a JSON object with `alg` and its signature segment has a
  real length (a shortened token such as `eyJhbGciOiJS…S2x_HA` has no dots and passes).
- RFC 6749 §2.3.1: `client_secret` values (form, JSON or `key: value`), HTTP Basic credentials that
  carry a secret, and the literal secrets the run knows about (the sandbox configuration's).
- Okta API tokens: `Authorization: SSWS <token>`, Okta's token form (`00` and 40 base64url
  characters), and the literal `OKTA_API_TOKEN` of the run.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tools.nbrun import cell_label

PRIVATE_KEY_PEM = "private key (PEM block)"
PRIVATE_KEY_JWK = 'private key (JWK with "d")'
WHOLE_JWT = "whole JWT"
CLIENT_SECRET = "client secret"
API_TOKEN = "API token"

KINDS = (PRIVATE_KEY_PEM, PRIVATE_KEY_JWK, WHOLE_JWT, CLIENT_SECRET, API_TOKEN)

#: Characters that may continue a token: a match followed by one of these is only part of a value.
_TOKEN_TAIL = r"(?![A-Za-z0-9_\-…*])"
_TOKEN_HEAD = r"(?<![A-Za-z0-9_\-])"

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_JWK_D = re.compile(r"""["']d["']\s*:\s*["']([A-Za-z0-9_-]{20,})["']""")
_JWS = re.compile(
    _TOKEN_HEAD + r"(ey[A-Za-z0-9_-]{8,})\.(ey[A-Za-z0-9_-]{8,})\.([A-Za-z0-9_-]{32,})" + _TOKEN_TAIL
)
_CLIENT_SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9_])client_secret[\"']?\s*[=:]\s*[\"']?([^\s\"'&<>,;)}\]\\]+)", re.IGNORECASE
)
_BASIC = re.compile(r"\bBasic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=…*])")
_SSWS = re.compile(r"\bSSWS\s+([A-Za-z0-9_-]{10,})" + _TOKEN_TAIL)
_OKTA_TOKEN = re.compile(_TOKEN_HEAD + r"00[A-Za-z0-9_-]{40}" + _TOKEN_TAIL)

#: Values that stand in for a secret rather than being one: `$CLIENT_SECRET`, `${X}`, `%24X`,
#: `[hidden]`, `(empty)`, `<your secret>`, `{secret}`, `YOUR_CLIENT_SECRET`, shortened `abc…xyz`.
_PLACEHOLDER = re.compile(r"^(?:[$%<{\[(].*|[A-Z][A-Z0-9_]*|.*[…*].*|\.\.\..*)$")


@dataclass(frozen=True)
class Finding:
    """One secret found: where (notebook, cell, part of the export) and what kind, never its value."""

    notebook: str
    where: str
    kind: str
    hint: str
    part: str = "executed notebook"

    def __str__(self) -> str:
        return f"{self.notebook}, {self.where} ({self.part}): {self.kind} ({self.hint})"


class SecretFound(Exception):
    """The export is refused: the findings say where each secret is and what kind it is."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        lines = [f"export refused: {len(findings)} secret(s) found, nothing was written"]
        lines += [f"  - {finding}" for finding in findings[:40]]
        if len(findings) > 40:
            lines.append(f"  … and {len(findings) - 40} more")
        lines.append(
            "Redaction is forced on in exports, so a secret in an output means a cell prints it on purpose "
            "or a helper does not shorten it: fix that cell or helper, then export again."
        )
        super().__init__("\n".join(lines))


@dataclass
class KnownSecrets:
    """Literal secrets of this run: the sandbox's client secrets and the API token, if any."""

    client_secrets: set[str] = field(default_factory=set)
    api_tokens: set[str] = field(default_factory=set)

    def add_client_secret(self, value: str | None) -> None:
        """Remember a client secret (values under 8 characters are too common to search for)."""
        if value and len(value) >= 8:
            self.client_secrets.add(value)

    def add_api_token(self, value: str | None) -> None:
        """Remember an API token (values under 8 characters are too common to search for)."""
        if value and len(value) >= 8:
            self.api_tokens.add(value)


def hint(value: str) -> str:
    """Describe a secret without revealing it: four leading characters and the length."""
    return f"{value[:4]}…, {len(value)} characters"


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value))


def find_secrets(text: str, known: KnownSecrets | None = None) -> Iterator[tuple[str, str, str]]:
    """Yield (kind, secret, evidence) for every secret in `text`; evidence is the text that held it."""
    known = known or KnownSecrets()
    for match in _PEM.finditer(text):
        yield PRIVATE_KEY_PEM, match.group(0), match.group(0)
    for match in _JWK_D.finditer(text):
        yield PRIVATE_KEY_JWK, match.group(1), match.group(1)
    for match in _JWS.finditer(text):
        header = _b64url_json(match.group(1))
        # RFC 7515 §4.1.1: "alg" MUST be present in a JWS header; a segment that is not such a
        # header is some other dotted value, not a token.
        if isinstance(header, dict) and "alg" in header:
            yield WHOLE_JWT, match.group(0), match.group(0)
    for match in _CLIENT_SECRET_VALUE.finditer(text):
        value = match.group(1)
        if len(value) >= 6 and not _is_placeholder(value):
            yield CLIENT_SECRET, value, value
    for match in _BASIC.finditer(text):
        try:
            decoded = base64.b64decode(match.group(1), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        _, colon, secret = decoded.partition(":")
        # RFC 6749 §2.3.1: Basic credentials are client_id ":" client_secret.
        if colon and len(secret) >= 6 and not _is_placeholder(secret):
            yield CLIENT_SECRET, secret, match.group(1)
    for secret in known.client_secrets:
        if secret in text:
            yield CLIENT_SECRET, secret, secret
    for match in _SSWS.finditer(text):
        yield API_TOKEN, match.group(1), match.group(1)
    for match in _OKTA_TOKEN.finditer(text):
        yield API_TOKEN, match.group(0), match.group(0)
    for token in known.api_tokens:
        if token in text:
            yield API_TOKEN, token, token


# --- where in a notebook ------------------------------------------------------------------------------
def _strings(value: Any) -> Iterator[str]:
    """Yield every string inside a JSON-like value (keys and dumps included, so `"d": "…"` shows)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        yield "".join(value)
    else:
        yield json.dumps(value, ensure_ascii=False)


def cell_texts(cell: Any) -> list[str]:
    """Return every text a cell carries: its source, its outputs (all types) and attachments."""
    texts = list(_strings(cell.get("source", "")))
    for output in cell.get("outputs", []):
        for key in ("text", "ename", "evalue", "traceback"):
            if key in output:
                texts += _strings(output[key])
        for value in output.get("data", {}).values():
            texts += _strings(value)
        if output.get("metadata"):
            texts += _strings(output["metadata"])
    if cell.get("attachments"):
        texts += _strings(cell["attachments"])
    return texts


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_MODEL_REF = re.compile(r"IPY_MODEL_([0-9A-Za-z_-]+)")


def widget_owners(notebook: Any) -> dict[str, int]:
    """Map each saved widget model to the index of the cell that displays it (through its children)."""
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    owners: dict[str, int] = {}
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if not isinstance(view, dict) or not view.get("model_id"):
                continue
            pending = [view["model_id"]]
            while pending:
                model = pending.pop()
                if model in owners or model not in state:
                    continue
                owners[model] = index
                pending += _MODEL_REF.findall(json.dumps(state[model].get("state", {})))
    return owners


def scan_notebook(notebook: Any, name: str, known: KnownSecrets | None = None) -> list[Finding]:
    """Scan an executed notebook: every cell, the saved widget state, and the other metadata."""
    findings: list[Finding] = []
    cells = notebook.get("cells", [])
    for index, cell in enumerate(cells):
        for text in cell_texts(cell):
            for kind, value, _ in find_secrets(text, known):
                findings.append(Finding(name, cell_label(index, cell), kind, hint(value)))
    metadata = dict(notebook.get("metadata", {}))
    widgets = dict(metadata.pop("widgets", {}) or {})
    state = widgets.get(WIDGET_STATE, {}).get("state", {})
    owners = widget_owners(notebook)
    for model_id, model in state.items():
        where = (
            f"{cell_label(owners[model_id], cells[owners[model_id]])}, saved widget state"
            if model_id in owners
            else "saved widget state (no cell displays it)"
        )
        for kind, value, _ in find_secrets(json.dumps(model, ensure_ascii=False), known):
            findings.append(Finding(name, where, kind, hint(value)))
    for kind, value, _ in find_secrets(json.dumps(metadata, ensure_ascii=False), known):
        findings.append(Finding(name, "notebook metadata", kind, hint(value)))
    return _unique(findings)


def scan_rendered(
    text: str, notebook: Any, name: str, part: str, known: KnownSecrets | None = None
) -> list[Finding]:
    """Scan a rendered page (HTML or Markdown) of `notebook`; name the cell each secret came from."""
    cells = notebook.get("cells", [])
    per_cell = ["\n".join(cell_texts(cell)) for cell in cells]
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    models = {model_id: json.dumps(model, ensure_ascii=False) for model_id, model in state.items()}
    owners = widget_owners(notebook)

    def locate(value: str) -> str:
        for index, cell_text in enumerate(per_cell):
            if value in cell_text or value in html.unescape(cell_text):
                return cell_label(index, cells[index])
        for model_id, model_text in models.items():
            if value in model_text:
                if model_id in owners:
                    return f"{cell_label(owners[model_id], cells[owners[model_id]])}, saved widget state"
                return "saved widget state (no cell displays it)"
        return "page template (outside any cell)"

    findings = []
    # Text inside HTML is escaped (`&quot;d&quot;`): scan it as a reader's browser shows it, too.
    for variant in dict.fromkeys([text, html.unescape(text)]):
        for kind, value, evidence in find_secrets(variant, known):
            findings.append(Finding(name, locate(evidence), kind, hint(value), part))
    return _unique(findings)


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
