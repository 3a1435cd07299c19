"""The pictures, built from a known request log and known tokens: exact text, well-formed offline SVG."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pytest

from helpers import pictures

SVG = "{http://www.w3.org/2000/svg}"
ORG = "https://example.okta.com"
ISSUER = f"{ORG}/oauth2/default"
T0 = 1795910400  # 2026-11-29T00:00:00Z


def jwt(header: dict, claims: dict) -> str:
    """A JWT-shaped string (the pictures never verify signatures)."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJl"


ID_TOKEN = jwt(
    {"alg": "RS256", "kid": "k1"},
    {"iss": ORG, "aud": "agent01", "sub": "00uAlice", "iat": T0, "exp": T0 + 3600, "nonce": "n"},
)
ID_JAG = jwt(
    {"alg": "RS256", "kid": "k1", "typ": "oauth-id-jag+jwt"},
    {"iss": ORG, "aud": ISSUER, "sub": "00uAlice", "client_id": "agent01", "scope": "todo.read",
     "iat": T0 + 60, "exp": T0 + 360, "jti": "j1"},
)  # fmt: skip
ACCESS_TOKEN = jwt(
    {"alg": "RS256", "kid": "k2"},
    {"iss": ISSUER, "aud": "api://default", "sub": "alice@example.com", "uid": "00uAlice", "cid": "agent01",
     "scp": ["todo.read"], "iat": T0 + 120, "exp": T0 + 3720, "jti": "AT.1"},
)  # fmt: skip
TOKENS = [("ID token", ID_TOKEN), ("ID-JAG", ID_JAG), ("access token", ACCESS_TOKEN)]


def record(method: str, path: str, status: int, ms: int, *, form=None, body=None) -> dict:
    return {
        "method": method,
        "url": ORG + path,
        "status": status,
        "elapsed_ms": ms,
        "form": form,
        "response_body": body,
    }


LOG = [
    record("GET", "/oauth2/v1/authorize", 200, 12, body="<html>"),
    record("POST", "/oauth2/v1/authorize", 302, 5, form={"username": "alice"}),
    record("GET", "/.well-known/openid-configuration", 200, 3, body={"issuer": ORG}),
    record(
        "POST",
        "/oauth2/v1/token",
        200,
        40,
        form={"grant_type": "authorization_code"},
        body={"id_token": "eyJ…", "access_token": "eyJ…"},
    ),  # fmt: skip
    record(
        "POST",
        "/oauth2/v1/token",
        200,
        9,
        form={"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"},
        body={"issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "access_token": "eyJ…"},
    ),  # fmt: skip
    record("GET", "/oauth2/default/v1/keys", 200, 2, body={"keys": []}),
    record(
        "POST",
        "/oauth2/default/v1/token",
        400,
        7,
        form={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "scope": "todo.read"},
        body={"error": "invalid_request"},
    ),  # fmt: skip
    record(
        "POST",
        "/oauth2/default/v1/token",
        200,
        8,
        form={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"},
        body={"access_token": "eyJ…", "scope": "todo.read", "token_type": "Bearer"},
    ),  # fmt: skip
    record("GET", "/api/v1/logs", 200, 3, body=[]),
    record("POST", "/todo-api/todos", 403, 6, body={"error": "insufficient_scope"}),
]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    assert not list(root.iter(f"{SVG}script")), "a picture must work without JavaScript"
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not (name.endswith("href") and value.startswith(("http:", "https:"))), (
                "a network reference"
            )
    return root


def test_the_shift_picture_puts_the_three_tokens_side_by_side_and_marks_each_change():
    picture = pictures.token_shift(TOKENS)
    assert picture.text == "\n".join(
        [
            "The audience and scope shift: ID token → ID-JAG → access token",
            "(* = changed from the token before)",
            'header "typ"',
            "  ID token      (none)",
            "  ID-JAG        oauth-id-jag+jwt  *",
            "  access token  (none)  *",
            '"iss"',
            f"  ID token      {ORG}",
            f"  ID-JAG        {ORG}",
            f"  access token  {ISSUER}  *",
            '"aud"',
            "  ID token      agent01",
            f"  ID-JAG        {ISSUER}  *",
            "  access token  api://default  *",
            '"sub"',
            "  ID token      00uAlice",
            "  ID-JAG        00uAlice",
            "  access token  alice@example.com  *",
            '"uid"',
            "  ID token      (none)",
            "  ID-JAG        (none)",
            "  access token  00uAlice  *",
            "client",
            "  ID token      agent01 (aud)",
            "  ID-JAG        agent01 (client_id)  *",
            "  access token  agent01 (cid)  *",
            "scopes",
            "  ID token      (none)",
            "  ID-JAG        todo.read  *",
            "  access token  todo.read",
            "lifetime",
            "  ID token      1 h 0 min 0 s",
            "  ID-JAG        5 min 0 s  *",
            "  access token  1 h 0 min 0 s  *",
        ]
    )
    root = parse(picture.svg)
    highlighted = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#fff1a8"]
    assert len(highlighted) == picture.text.count("  *")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "api://default" in texts and "oauth-id-jag+jwt" in texts


def test_the_sequence_diagram_is_drawn_from_the_request_log():
    picture = pictures.sequence_diagram(LOG)
    assert picture.text == "\n".join(
        [
            "The flow as it ran: the request log of notebooks 01 to 04",
            "7 request(s); 2 discovery and key request(s) left out",
            " 1. User's browser -> Org authorization server: GET /oauth2/v1/authorize (sign-in page)",
            "    <- 200 sign-in page (12 ms)",
            " 2. User's browser -> Org authorization server: POST /oauth2/v1/authorize (username, password)",
            "    <- 302 redirect with a code (5 ms)",
            " 3. Agent (the kit) -> Org authorization server: POST /oauth2/v1/token: "
            "authorization code + PKCE",
            "    <- 200 ID token + access token (40 ms)",
            " 4. Agent (the kit) -> Org authorization server: POST /oauth2/v1/token: "
            "token exchange (RFC 8693)",
            "    <- 200 ID-JAG (9 ms)",
            " 5. Agent (the kit) -> Custom authorization server (default): POST /oauth2/default/v1/token: "
            "JWT bearer grant (RFC 7523)",
            "    <- 400 invalid_request (7 ms)",
            " 6. Agent (the kit) -> Custom authorization server (default): POST /oauth2/default/v1/token: "
            "JWT bearer grant (RFC 7523)",
            "    <- 200 access token (todo.read) (8 ms)",
            " 7. Agent (the kit) -> API: POST /todo-api/todos",
            "    <- 403 insufficient_scope (6 ms)",
        ]
    )
    root = parse(picture.svg)
    arrows = [line for line in root.iter(f"{SVG}line") if line.get("marker-end")]
    assert len(arrows) == 2 * 7  # a request and an answer per step
    boxes = [t.text for t in root.iter(f"{SVG}text") if t.get("font-weight") == "bold"][1:]
    assert boxes == [
        "User's browser",
        "Agent (the kit)",
        "Org auth server",
        "Custom auth server (default)",
        "API",
    ]


def test_the_sequence_diagram_can_show_discovery_too():
    picture = pictures.sequence_diagram(LOG, include_discovery=True)
    assert picture.text.splitlines()[1] == "9 request(s)"
    assert (
        " 3. Agent (the kit) -> Org authorization server: GET /.well-known/openid-configuration"
        in picture.text
    )


def test_the_timeline_puts_the_lifetimes_on_one_axis_with_now():
    now = T0 + 600
    picture = pictures.token_timeline(TOKENS, now=now, notes={"ID-JAG": "redeemed (single use)"})
    assert picture.text == "\n".join(
        [
            "The tokens' lifetimes on one time axis",
            "now: 2026-11-29T00:10:00Z",
            "  ID token      iat 2026-11-29T00:00:00Z  exp 2026-11-29T01:00:00Z  lifetime 1 h 0 min 0 s  "
            "(exp in 50 min 0 s)",
            "  ID-JAG        iat 2026-11-29T00:01:00Z  exp 2026-11-29T00:06:00Z  lifetime 5 min 0 s  "
            "(exp 4 min 0 s ago; redeemed (single use))",
            "  access token  iat 2026-11-29T00:02:00Z  exp 2026-11-29T01:02:00Z  lifetime 1 h 0 min 0 s  "
            "(exp in 52 min 0 s)",
        ]
    )
    root = parse(picture.svg)
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity")]
    widths = [float(b.get("width")) for b in bars]
    assert widths[0] == pytest.approx(widths[2], abs=0.1)
    assert widths[1] == pytest.approx(widths[0] * 300 / 3600, abs=0.1)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "now" in texts and "5 min 0 s, expired, redeemed (single use)" in texts


def test_a_picture_offers_svg_and_the_same_facts_as_text():
    picture = pictures.token_timeline(TOKENS, now=T0)
    bundle = picture._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    assert bundle["text/plain"] == repr(picture) == picture.text


def test_the_pictures_escape_what_they_draw():
    hostile = jwt(
        {"alg": "none", "typ": "<script>&"}, {"iss": "a<b", "aud": "x\"y'z", "iat": T0, "exp": T0 + 1}
    )
    for picture in (
        pictures.token_shift([("one", hostile), ("two", hostile)]),
        pictures.token_timeline([("<one>", hostile)], now=T0),
        pictures.sequence_diagram([record("GET", "/todo-api/<x>&y", 500, 1, body={"error": "<e>"})]),
    ):
        parse(picture.svg)


def test_the_kit_pictures_read_the_session_file_and_the_logs(kit):
    from helpers import flow

    flow.run_sign_in(kit)
    flow.run_token_exchange(kit)
    flow.run_jwt_bearer(kit)
    shift = pictures.shift_from_session(kit)
    assert shift.text.startswith("The audience and scope shift: ID token → ID-JAG → access token")
    timeline = pictures.timeline_from_session(kit)
    assert "redeemed (single use)" in timeline.text
    parse(pictures.sequence_from_logs(kit).svg)
