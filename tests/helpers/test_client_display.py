"""Stable output forms (what nbval's sanitizers rely on), the token card, checklists and forms."""

from __future__ import annotations

import re

import pytest
from client_support import sign

from helpers.core.checks import Checklist
from helpers.core.config import load_settings
from helpers.core.formatting import duration_ms, iso_time, relative_time, shorten
from helpers.core.transport import KitHTTP
from helpers.teaching.display import TokenCard, step_configuration
from helpers.teaching.forms import AudienceForm, ConfigForm

NOW = 1_795_912_864  # 2026-11-29T00:41:04Z


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (NOW + 298, "in 4 min 58 s"),
        (NOW - 182, "3 min 2 s ago"),
        (NOW + 3599, "in 59 min 59 s"),
        (NOW + 3600, "in 1 h 0 min 0 s"),
        (NOW, "0 s ago"),
        (NOW + 7, "in 7 s"),
    ],
)
def test_relative_times_have_one_stable_form(epoch, text):
    assert relative_time(epoch, reference=NOW) == text


def test_times_durations_and_tokens_have_stable_forms():
    assert iso_time(NOW) == "2026-11-29T00:41:04Z"
    assert duration_ms(0.0123) == "12 ms"
    token = "eyJhbGciOiJSUzI1NiJ9." + "x" * 50 + ".sig123"
    assert shorten(token) == "eyJhbGciOiJS\u2026sig123" and shorten(token, redact=False) == token
    assert shorten("short-code") == "short-code"


def test_the_token_card_explains_claims_and_shows_times_readably(rsa_key):
    token = sign(
        rsa_key,
        {
            "iss": "http://127.0.0.1:8400",
            "sub": "00u1",
            "exp": NOW + 298,
            "iat": NOW,
            "scp": ["todo.read", "todo.write"],
        },
        typ="JWT",
    )
    card = TokenCard(token, title="Access token", reference=NOW)
    text = repr(card)
    assert text.startswith("Access token: eyJhbGciOiJS\u2026")
    assert token not in text and token not in card._repr_html_()
    assert "1795913162 (2026-11-29T00:46:02Z, in 4 min 58 s)" in text
    assert "issuer: the authorization server that signed it" in text
    assert "[todo.read, todo.write]" in text
    assert re.search(
        r"\nkid +id of the signing key in the issuer's JWKS +" + re.escape(rsa_key.kid) + "\n", text
    )
    # the value is the last column: nothing after it is padded to its width
    assert re.search(r"\nexp +expires at +1795913162 \(2026-11-29T00:46:02Z, in 4 min 58 s\)\n", text)
    assert token in repr(TokenCard(token, title="Access token", redact=False, reference=NOW))


def test_a_checklist_renders_as_text_and_html_with_both_values():
    checks = Checklist("ID token checks")
    checks.equal('"iss"', "http://a", "http://a", "OIDC Core §3.1.3.7 step 2")
    checks.equal('"nonce"', "n-1", "n-2", "OIDC Core §3.1.3.7 step 11")
    text = str(checks)
    assert text.splitlines()[0] == "ID token checks: 1 of 2 passed"
    assert text.splitlines()[2] == 'FAIL  "nonce"  expected: n-1 | received: n-2 | OIDC Core §3.1.3.7 step 11'
    assert "✗ FAIL" in checks._repr_html_() and not checks.ok


def test_step_configuration_lists_settings_and_endpoints(kit_home):
    text = repr(step_configuration(load_settings(), "jwt_bearer", key_id="kid-1"))
    assert re.search(r"\n  token endpoint +http://127.0.0.1:8400/oauth2/default/v1/token\n", text)
    assert re.search(r"\n  AGENT_KEY_ID +kid-1\n", text)


def test_the_config_form_reads_current_values_and_saves_them(kit_home):
    form = ConfigForm(load_settings())
    assert form.settings() == load_settings()
    form.fields["AGENT_SCOPES"].value = "todo.read todo.write"
    form.fields["KIT_HEADLESS"].value = True
    assert form.save() == ["AGENT_SCOPES", "KIT_HEADLESS"]
    assert load_settings().agent_scopes == ("todo.read", "todo.write") and load_settings().headless
    form.fields["OKTA_ORG_URL"].value = "https://x.okta.com/"
    form.save_button.click()
    assert form.status.value.startswith(
        'Not done: OKTA_ORG_URL is "https://x.okta.com/", expected no trailing slash'
    )
    form.use_existing.click()
    assert form.fields["OKTA_ORG_URL"].value == "http://127.0.0.1:8400"
    assert repr(form).startswith("Configuration form (Sandbox")
    assert form._repr_mimebundle_()["text/plain"] == repr(form)


def test_choosing_okta_clears_the_sandbox_url_and_headless(kit_home):
    form = ConfigForm(load_settings())
    form.fields["KIT_HEADLESS"].value = True
    form.where.value = "Okta org"
    assert form.fields["OKTA_ORG_URL"].value == "" and form.fields["KIT_HEADLESS"].value is False
    form.where.value = "Sandbox (local, offline)"
    assert form.fields["OKTA_ORG_URL"].value == "http://127.0.0.1:8400"


def test_the_audience_form_falls_back_to_manual_scopes_when_loading_fails(kit_home, tmp_path, monkeypatch):
    monkeypatch.setenv("OKTA_ORG_URL", "http://127.0.0.1:9")
    form = AudienceForm(KitHTTP(phase="02", log_dir=tmp_path), load_settings())
    assert form.audience == "http://127.0.0.1:9/oauth2/default" and form.scopes == ["todo.read"]
    assert form.load_scopes() == []
    assert form.status.value.startswith("Could not load scopes")
    assert form.scopes == ["todo.read"]
    form.manual_box.value = "todo.read, todo.admin todo.read"
    assert form.scopes == ["todo.read", "todo.admin"]
