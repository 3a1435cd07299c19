"""The export's secret scan: each kind of planted secret refuses the export; redacted values pass."""

from __future__ import annotations

import base64
import json
import secrets

import nbformat
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from export_support import write_notebook
from jose import jwt

from sandbox.config import load_config
from tools.export import export, render_and_scan
from tools.export_scan import (
    API_TOKEN,
    CLIENT_SECRET,
    PRIVATE_KEY_JWK,
    PRIVATE_KEY_PEM,
    WHOLE_JWT,
    KnownSecrets,
    SecretFound,
)

NOTEBOOK = "03_planted"
#: The run's API token, as the throwaway sandbox hands it out (tools.kitenv sets OKTA_API_TOKEN).
RUN_API_TOKEN = "kit-sandbox-api-token-" + "Q" * 20


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _private_jwk() -> str:
    numbers = ec.generate_private_key(ec.SECP256R1()).private_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.public_numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.public_numbers.y.to_bytes(32, "big")),
        "d": b64url(numbers.private_value.to_bytes(32, "big")),
    }
    return json.dumps({"keys": [jwk]}, indent=2)


def _signed_jwt() -> str:
    return jwt.encode({"sub": "alice", "aud": "api://default"}, _rsa_pem(), algorithm="RS256")


def sandbox_client_secret() -> str:
    """The other web app's secret from the sandbox's default configuration."""
    config = load_config(None)
    return next(c.client_secret for c in config.clients.values() if c.client_secret)


def known_secrets() -> KnownSecrets:
    known = KnownSecrets()
    known.add_client_secret(sandbox_client_secret())
    known.add_api_token(RUN_API_TOKEN)
    return known


def planted(text: str, *, as_output: bool = True) -> nbformat.NotebookNode:
    """A small executed notebook whose third cell shows `text` (as output, or in its source)."""
    cell = nbformat.v4.new_code_cell("show()" if as_output else text, execution_count=2)
    if as_output:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Planted\n\nA notebook with a secret in it."),
            nbformat.v4.new_code_cell("x = 1", execution_count=1),
            cell,
        ]
    )


REFUSED = [
    ("a PEM private key (PKCS #8)", _rsa_pem, PRIVATE_KEY_PEM),
    ("a PEM private key (SEC 1 EC)", _ec_pem, PRIVATE_KEY_PEM),
    ("a JWKS holding a private d", _private_jwk, PRIVATE_KEY_JWK),
    ("a whole signed JWT", _signed_jwt, WHOLE_JWT),
    (
        "a whole JWT inside a cURL command",
        lambda: f"curl -d 'assertion={_signed_jwt()}' https://x",
        WHOLE_JWT,
    ),
    ("the sandbox's client secret", sandbox_client_secret, CLIENT_SECRET),
    ("a client_secret form value", lambda: "grant_type=x&client_secret=Zq9fK2mVx81LpQ&code=y", CLIENT_SECRET),
    ("a client_secret JSON member", lambda: '{"client_secret": "Zq9fK2mVx81LpQ"}', CLIENT_SECRET),
    (
        "client credentials in a Basic header",
        lambda: "Authorization: Basic " + base64.b64encode(b"0oaOther:Zq9fK2mVx81LpQ").decode(),
        CLIENT_SECRET,
    ),
    ("an SSWS API token", lambda: "Authorization: SSWS " + "00" + secrets.token_urlsafe(30)[:40], API_TOKEN),
    ("an Okta API token on its own", lambda: "token: 00" + "aB3_" * 10, API_TOKEN),
    ("the run's OKTA_API_TOKEN", lambda: f"OKTA_API_TOKEN is {RUN_API_TOKEN}", API_TOKEN),
]


@pytest.mark.parametrize(("case", "make", "kind"), REFUSED, ids=[row[0] for row in REFUSED])
def test_the_scan_refuses_a_planted_secret_naming_notebook_cell_and_kind(case, make, kind):
    secret = make()
    with pytest.raises(SecretFound) as refused:
        render_and_scan([(NOTEBOOK, planted(secret))], known=known_secrets())
    message = str(refused.value)
    assert message.startswith("export refused:")
    assert f"{NOTEBOOK}, cell 3 (In [2]) (executed notebook): {kind} (" in message
    # The HTML and Markdown pages are scanned too, and say which page.
    assert f"{NOTEBOOK}, cell 3 (In [2]) (HTML page): {kind}" in message
    assert f"{NOTEBOOK}, cell 3 (In [2]) (Markdown): {kind}" in message
    assert {finding.kind for finding in refused.value.findings} >= {kind}


@pytest.mark.parametrize(
    ("case", "make", "kind"), REFUSED[:4] + REFUSED[5:6], ids=[r[0] for r in REFUSED[:4] + REFUSED[5:6]]
)
def test_the_refusal_never_repeats_the_secret(case, make, kind):
    secret = make()
    with pytest.raises(SecretFound) as refused:
        render_and_scan([(NOTEBOOK, planted(secret))], known=known_secrets())
    body = secret.replace("-----BEGIN", "").replace("-----END", "")
    # No run of 12 characters of the secret's body shows in the message.
    chunks = {body[i : i + 12] for i in range(0, max(len(body) - 12, 1), 7) if body[i : i + 12].strip()}
    assert not [chunk for chunk in chunks if chunk in str(refused.value) and "PRIVATE KEY" not in chunk]


ACCEPTED = [
    ("a shortened token", "id_token: eyJhbGciOiJS…S2x_HA"),
    ("a shortened token in a header", "Authorization: Bearer eyJraWQiOiJo…Xk9_Qw"),
    ("a replayable cURL reading secrets from the environment", 'curl -d "client_secret=$CLIENT_SECRET"'),
    ("a placeholder secret", "client_secret=${CLIENT_SECRET} or client_secret=[hidden]"),
    ("the auth method names", '"token_endpoint_auth_methods_supported": ["client_secret_basic"]'),
    ("a shortened SSWS token", "Authorization: SSWS 00QCjAl4MlV…bGua"),
    ("an API token read from the environment", 'curl -H "Authorization: SSWS $OKTA_API_TOKEN"'),
    ("a public JWKS", json.dumps({"keys": [{"kty": "RSA", "e": "AQAB", "n": "x" * 342, "kid": "k" * 43}]})),
    ("a PEM public key", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"),
    ("an unsigned-looking dotted value", "eyJub3QiOiJhIGhlYWRlciJ9.eyJzdWIiOiJ4In0." + "A" * 40),
    ("the demo user's name and a kid", "alice@example.com, kid EZPSZ0RBpf9qPmJ5Oqj9ChpBB5udmThNyVxhuMEAiK0"),
]


@pytest.mark.parametrize(("case", "text"), ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_the_scan_accepts_redacted_and_public_values(case, text):
    pages, texts, _ = render_and_scan([(NOTEBOOK, planted(text))], known=known_secrets())
    assert [page.name for page in pages] == [NOTEBOOK]
    assert "index.html" in texts


def test_a_secret_in_a_cell_source_is_refused_too():
    with pytest.raises(
        SecretFound, match=rf"{NOTEBOOK}, cell 3 \(In \[2\]\) \(executed notebook\): {WHOLE_JWT}"
    ):
        render_and_scan(
            [(NOTEBOOK, planted(f"token = '{_signed_jwt()}'", as_output=False))], known=KnownSecrets()
        )


def test_a_secret_in_saved_widget_state_names_the_cell_that_shows_the_form():
    notebook = planted("nothing here")
    view = {"model_id": "a" * 32, "version_major": 2, "version_minor": 0}
    notebook.cells[2].outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={"application/vnd.jupyter.widget-view+json": view, "text/plain": "A form"},
            execution_count=2,
        )
    ]
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "version_major": 2,
            "version_minor": 0,
            "state": {
                "a" * 32: {
                    "model_name": "VBoxModel",
                    "model_module": "@jupyter-widgets/controls",
                    "model_module_version": "2.0.0",
                    "state": {"children": ["IPY_MODEL_" + "b" * 32]},
                },
                "b" * 32: {
                    "model_name": "TextModel",
                    "model_module": "@jupyter-widgets/controls",
                    "model_module_version": "2.0.0",
                    "state": {"description": "Token", "value": _signed_jwt()},
                },
            },
        }
    }
    with pytest.raises(SecretFound) as refused:
        render_and_scan([(NOTEBOOK, notebook)], known=KnownSecrets())
    assert f"{NOTEBOOK}, cell 3 (In [2]), saved widget state (executed notebook): {WHOLE_JWT}" in str(
        refused.value
    )


def test_the_export_refuses_a_notebook_that_prints_a_secret_and_writes_nothing(tmp_path, assets):
    source = tmp_path / "notebooks"
    write_notebook(
        source,
        "00_leaky",
        [
            nbformat.v4.new_markdown_cell("# Leaky\n\nPrints a private key header."),
            # The source splits the marker, so only the cell's output holds it.
            nbformat.v4.new_code_cell("print('-----BEGIN ' + 'PRIVATE KEY-----')"),
        ],
    )
    out = tmp_path / "site"
    with pytest.raises(SecretFound) as refused:
        export(out=out, source=source, log=lambda line: None)
    assert f"00_leaky, cell 2 (In [1]) (executed notebook): {PRIVATE_KEY_PEM}" in str(refused.value)
    assert "nothing was written" in str(refused.value)
    assert not out.exists()
    assert not list(tmp_path.glob(".site.partial-*"))
