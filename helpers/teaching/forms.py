"""The notebooks' forms (ipywidgets 8): the configuration form and the audience form.

A form never blocks: it is displayed for people, and later cells read its current values when they
run (`form.settings()`, `form.audience`, `form.scopes`), so "Run All" and headless runs need no
click. Each form's text/plain output is a stable summary (what nbval and static viewers see).

"Save" checks what can be checked where the mistake is made, and marks the field beside it: each value's
form (helpers.core.config), then, against the server the form names, what it knows: the org's discovery
document (OIDC Discovery §4.3), the custom server's metadata, and the sign-in request itself (an unknown
client id or redirect URI gets an error page, RFC 6749 §4.1.2.1). A value the server refuses is not
saved; a server that does not answer is a warning, and the values are saved.

- RFC 8414 §2 (`scopes_supported`): the audience form loads the target server's public scopes; Okta
  lists only scopes marked "Include in public metadata", so a manual entry box is always there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

import ipywidgets as widgets

from ..constants import SUBJECT_TOKEN_TYPES
from ..core.config import (
    DEFAULTS,
    ENV_VARS,
    Settings,
    is_loopback_host,
    load_settings,
    save_settings,
    settings_from_values,
)
from ..core.discovery import fetch_metadata
from ..core.errors import ConfigError, KitError, SignInError, TLSError, UnreachableError
from ..core.keys import SUPPORTED_ALGS
from ..core.rules import oidc_scopes
from .display import describe

SANDBOX = "Sandbox (local, offline)"
OKTA = "Okta org"

#: Labels shown next to each setting in the configuration form.
LABELS = {
    "OKTA_ORG_URL": "Org URL",
    "OKTA_AUTH_SERVER_ID": "Custom auth server id",
    "AGENT_CLIENT_ID": "Agent client_id",
    "AGENT_PRIVATE_KEY_FILE": "Private key file",
    "AGENT_PUBLIC_JWKS_FILE": "Public JWKS file",
    "AGENT_KEY_ALG": "Key algorithm",
    "AGENT_KEY_ID": "Key id (empty: thumbprint)",
    "REDIRECT_URI": "Redirect URI",
    "SIGNIN_SCOPES": "Sign-in scopes",
    "AGENT_SCOPES": "Agent scopes",
    "AUDIENCE": "Audience (empty: custom issuer)",
    "RESOURCE": "Resource (optional)",
    "SUBJECT_TOKEN_TYPE": "Subject token type",
    "API_URL": "API URL",
    "KIT_REDACT": "Redact tokens in outputs",
    "KIT_HEADLESS": "Headless (no browser)",
    "SANDBOX_USERNAME": "Sandbox user",
    "SANDBOX_PASSWORD": "Sandbox password",
}

_LAYOUT = {"width": "95%"}
# Wide enough for the longest label ("Audience (empty: custom issuer)"): a narrower one is cut off.
_STYLE = {"description_width": "18em"}


#: Values that only make sense against the sandbox (its demo agent, API and users), by setting.
SANDBOX_ONLY = ("AGENT_CLIENT_ID", "API_URL", "AGENT_SCOPES", "SANDBOX_USERNAME", "SANDBOX_PASSWORD")
#: How a marked field looks: a red (error) or amber (warning) frame, whatever the widget.
_MARK_CSS = (
    "<style>.kit-mark-error input, .kit-mark-error select {border: 2px solid #b3261e !important;}"
    ".kit-mark-warning input, .kit-mark-warning select {border: 2px solid #a05a00 !important;}</style>"
)
_MARK_COLORS = {"error": "#b3261e", "warning": "#a05a00", "note": "#555555"}


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one setting: its name, the message, and `error` (not saved) or `warning`."""

    name: str
    message: str
    level: str = "error"


def _named(problem: FieldProblem) -> str:
    """The problem as one line that names its setting."""
    text = problem.message
    return text if text.startswith(problem.name + " ") else f"{problem.name}: {text}"


def problems_by_field(error: ConfigError) -> list[FieldProblem]:
    """Turn a ConfigError's lines ('NAME is "value", expected …') into one problem per setting."""
    found = []
    for line in error.problems:
        name = line.split(" ", 1)[0]
        found.append(FieldProblem(name if name in ENV_VARS else "OKTA_ORG_URL", line))
    return found


def sandbox_values_against_okta(values: dict[str, str]) -> list[FieldProblem]:
    """Flag the sandbox's own values left in a configuration for an Okta org."""
    found = []
    if values.get("AGENT_CLIENT_ID") == DEFAULTS["AGENT_CLIENT_ID"]:
        found.append(
            FieldProblem(
                "AGENT_CLIENT_ID", "the sandbox's agent: your AI agent's client id (Directory > AI Agents)"
            )
        )
    # The sandbox's demo API as a sandbox serves it: plain http on loopback, under /todo-api/. An API of
    # your own on this machine (https://127.0.0.1:…, or another path) is fine: notebook 08 builds one.
    api = urlsplit(values.get("API_URL", ""))
    served_by_a_sandbox = (
        api.scheme == "http" and is_loopback_host(api.hostname) and api.path.startswith("/todo-api/")
    )
    if values.get("API_URL") == DEFAULTS["API_URL"] or served_by_a_sandbox:
        found.append(FieldProblem("API_URL", "the sandbox's demo API: use your own API's URL"))
    if values.get("AGENT_SCOPES") == DEFAULTS["AGENT_SCOPES"]:
        found.append(
            FieldProblem(
                "AGENT_SCOPES",
                "the sandbox's demo scope: use your custom server's scopes (or load them in 02)",
                "warning",
            )
        )
    return found


def server_problems(http: Any, settings: Settings) -> list[FieldProblem]:
    """Ask the configured server what it knows of these settings; each problem names its field.

    Checks, in order: the org's discovery document (and its `issuer`), the custom server's metadata,
    then one sign-in request with the agent's client id, redirect URI and sign-in scopes. Nothing is
    signed in and no token is asked for.
    """
    from ..signin import check_authorize_request, new_authorization_request

    found: list[FieldProblem] = []
    try:
        with http.labelled("Save: org discovery"):
            fetch_metadata(http, settings.org_issuer, form="openid")
    except UnreachableError as exc:
        hint = " (is the sandbox running? make lab starts it)" if settings.is_sandbox else ""
        return [FieldProblem("OKTA_ORG_URL", f"nothing answered{hint}: {exc}", "warning")]
    except TLSError as exc:
        # The address may be right: the kernel does not trust its certificate (KIT_CA_BUNDLE, core/tls.py).
        return [FieldProblem("OKTA_ORG_URL", str(exc), "warning")]
    except KitError as exc:
        return [FieldProblem("OKTA_ORG_URL", f"not an org's authorization server: {exc}")]
    try:
        with http.labelled("Save: custom server metadata"):
            metadata = fetch_metadata(http, settings.custom_issuer, form="okta")
    except KitError as exc:
        found.append(
            FieldProblem("OKTA_AUTH_SERVER_ID", f"no such custom authorization server at the org: {exc}")
        )
        metadata = None
    try:
        check_authorize_request(
            http, new_authorization_request(settings), settings.org_authorize_url, label="Save: sign-in check"
        )
    except SignInError as exc:
        text = str(exc)
        name = next(
            (n for n in ("REDIRECT_URI", "SIGNIN_SCOPES", "AGENT_CLIENT_ID") if f"check {n} " in text),
            "AGENT_CLIENT_ID",
        )
        said = f"{exc.error}: {exc.error_description}" if getattr(exc, "error", None) else text
        found.append(FieldProblem(name, f"the org refused a sign-in with it ({said})"))
    except KitError as exc:
        found.append(FieldProblem("OKTA_ORG_URL", f"the sign-in page could not be read: {exc}", "warning"))
    if metadata is not None and metadata.scopes_supported:
        unlisted = [s for s in settings.agent_scopes if s not in metadata.scopes_supported]
        if unlisted:
            found.append(
                FieldProblem(
                    "AGENT_SCOPES",
                    f"{' '.join(unlisted)} not among the server's public scopes: fine only if it exists "
                    'without "Include in public metadata"',
                    "warning",
                )
            )
    return found


def status_line(text: str = "") -> widgets.HTML:
    """A status line that wraps: a Label cuts a long message off at the form's edge."""
    return widgets.HTML(value=escape(text, quote=False))


def say(line: widgets.HTML, text: str) -> None:
    """Show plain `text` in a status line (escaped: a message may quote `<` or `&`)."""
    line.value = escape(text, quote=False)


def _bundle(widget: widgets.Widget, text: str, **kwargs: Any) -> dict[str, Any]:
    bundle = widget._repr_mimebundle_(**kwargs)  # noqa: SLF001
    data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    data["text/plain"] = text
    return data


class ConfigForm:
    """Edit the settings: sandbox or Okta, every variable, "Use existing configuration" and "Save".

    Example:
        form = ConfigForm(settings)
        form                      # displayed; a person may edit and click Save
        settings = form.settings()   # the next cell reads the current values
    """

    def __init__(self, settings: Settings | None = None, *, http: Any = None) -> None:
        from .notebook_errors import install

        install()  # the form is the first thing a notebook shows: its errors say what to fix
        self._settings = settings or load_settings()
        self._http = http
        self.fields: dict[str, widgets.Widget] = {}
        #: One line under each field: what is wrong with it, or a note (empty when nothing to say).
        self.notes: dict[str, widgets.HTML] = {}
        #: The problems marked now, by setting (what the person sees beside each field).
        self.marked: dict[str, FieldProblem] = {}
        for name in ENV_VARS:
            self.fields[name] = self._make_field(name)
            self.notes[name] = widgets.HTML(value="")
        self.where = widgets.ToggleButtons(
            options=[SANDBOX, OKTA],
            description="Where the flow runs:",
            # The buttons' default width cuts "Sandbox (local, offline)" off.
            style={**_STYLE, "button_width": "auto"},
        )
        self.status = status_line()
        self.use_existing = widgets.Button(
            description="Use existing configuration", icon="refresh", layout={"width": "auto"}
        )
        self.save_button = widgets.Button(description="Save", icon="save", button_style="primary")
        self.use_existing.on_click(lambda _: self._safely(self.reload))
        self.save_button.on_click(lambda _: self._safely(self.save))
        self._fill(self._settings)
        self.where.observe(self._on_where, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HTML(_MARK_CSS),
                self.where,
                *(widgets.VBox([self.fields[n], self.notes[n]]) for n in ENV_VARS),
                widgets.HBox([self.use_existing, self.save_button]),
                self.status,
            ]
        )

    def _make_field(self, name: str) -> widgets.Widget:
        label = LABELS[name]
        if name in ("KIT_REDACT", "KIT_HEADLESS"):
            # The default width (300px) holds the indent, not the label after the box.
            return widgets.Checkbox(description=label, style=_STYLE, indent=True, layout=_LAYOUT)
        if name == "AGENT_KEY_ALG":
            # The default width leaves the choice no room next to its label ("RS2…").
            return widgets.Dropdown(
                options=list(SUPPORTED_ALGS), description=label, style=_STYLE, layout={"width": "30em"}
            )
        if name == "SUBJECT_TOKEN_TYPE":
            return widgets.Dropdown(
                options=list(SUBJECT_TOKEN_TYPES), description=label, style=_STYLE, layout=_LAYOUT
            )
        if name == "SANDBOX_PASSWORD":
            # Never filled in: a widget's value is saved in the notebook's widget state. Empty keeps
            # the password the settings already hold; typing one replaces it.
            return widgets.Password(
                description=label, placeholder="(unchanged; type to replace)", style=_STYLE, layout=_LAYOUT
            )
        return widgets.Text(description=label, style=_STYLE, layout=_LAYOUT)

    def _fill(self, settings: Settings) -> None:
        env = settings.to_env()
        for name, widget in self.fields.items():
            value = "" if name == "SANDBOX_PASSWORD" else env[name]
            widget.value = (value == "true") if isinstance(widget, widgets.Checkbox) else value
        self.where.value = SANDBOX if settings.is_sandbox else OKTA

    def _on_where(self, change: dict[str, Any]) -> None:
        org = self.fields["OKTA_ORG_URL"]
        self.clear_marks()
        if change["new"] == SANDBOX and not self._current_is_sandbox():
            # Your own sandbox's port when the environment gives you one (a training room), else 8400.
            mine = os.environ.get("OKTA_ORG_URL", "")
            org.value = mine if mine.startswith("http://127.") else DEFAULTS["OKTA_ORG_URL"]
            for name in ("AGENT_CLIENT_ID", "API_URL"):
                if not self.fields[name].value:
                    self.fields[name].value = DEFAULTS[name]
        elif change["new"] == OKTA and self._current_is_sandbox():
            org.value = ""
            org.placeholder = "https://your-org.okta.com"
            self.fields["KIT_HEADLESS"].value = False
            # The sandbox's own values mean nothing to an Okta org: clear them, or say what to change.
            for name, placeholder in (
                ("AGENT_CLIENT_ID", "your AI agent's client id"),
                ("API_URL", "https://your-api.example.com/..."),
            ):
                if self.fields[name].value in (DEFAULTS[name], self._settings.to_env().get(name)):
                    self.fields[name].value = ""
                    self.fields[name].placeholder = placeholder
            for problem in sandbox_values_against_okta(self.values()):
                self._mark(problem)
            for name in ("SANDBOX_USERNAME", "SANDBOX_PASSWORD"):
                note = "the sandbox's demo user: not used against an Okta org"
                self._mark(FieldProblem(name, note, "note"))

    def _current_is_sandbox(self) -> bool:
        value = self.fields["OKTA_ORG_URL"].value
        return value.startswith(("http://127.", "http://localhost", "http://[::1]"))

    def _safely(self, action: Any) -> None:
        try:
            action()
        except KitError as exc:
            if not self.marked:
                say(self.status, f"Not done: {exc}")

    def clear_marks(self) -> None:
        """Remove every mark and note."""
        for name in ENV_VARS:
            self.fields[name].remove_class("kit-mark-error")
            self.fields[name].remove_class("kit-mark-warning")
            self.notes[name].value = ""
        self.marked = {}

    def _mark(self, problem: FieldProblem) -> None:
        if problem.name not in self.fields:
            return
        if problem.level in ("error", "warning"):
            self.fields[problem.name].add_class(f"kit-mark-{problem.level}")
        color = _MARK_COLORS.get(problem.level, _MARK_COLORS["note"])
        sign = {"error": "✗", "warning": "!", "note": "·"}.get(problem.level, "·")
        self.notes[problem.name].value = (
            f'<div style="color:{color}; margin-left: 18em; font-size: smaller">'
            f"{sign} {escape(problem.message, quote=False)}</div>"
        )
        self.marked[problem.name] = problem

    def _http_for_checks(self) -> Any:
        if self._http is None:
            from ..core.transport import KitHTTP

            state = self._settings.state_dir or self._settings.home / ".kit"
            self._http = KitHTTP(
                phase="00_configure",
                log_dir=state / "logs",
                redact=True,
                fresh_log=False,
                ca_bundle=self._settings.ca_bundle,
            )
        return self._http

    def values(self) -> dict[str, str]:
        """The form's current values as `.env` variables."""
        out = {}
        for name, widget in self.fields.items():
            value = widget.value
            out[name] = (
                ("true" if value else "false") if isinstance(widget, widgets.Checkbox) else str(value).strip()
            )
        if not out["SANDBOX_PASSWORD"]:
            out["SANDBOX_PASSWORD"] = self._settings.sandbox_password
        return out

    def settings(self) -> Settings:
        """Build validated Settings from the form's current values.

        Raises:
            ConfigError: naming each bad field, its value and what is expected.
        """
        return settings_from_values(
            self.values(),
            home=self._settings.home,
            env_file=self._settings.env_file,
            state_dir=self._settings.state_dir,
        )

    def reload(self) -> Settings:
        """ "Use existing configuration": load the settings from the environment and env file again."""
        self._settings = load_settings(self._settings.env_file)
        self._fill(self._settings)
        self.clear_marks()  # the marks were about the values just replaced
        say(self.status, "Loaded the existing configuration.")
        return self._settings

    def check(self, *, server: bool = True) -> tuple[Settings | None, list[FieldProblem]]:
        """Check the current values (their form, then what the server knows); mark each problem.

        Returns the settings (None when a value is malformed) and every problem found.
        """
        self.clear_marks()
        try:
            settings = self.settings()
        except ConfigError as exc:
            problems = problems_by_field(exc)
            for problem in problems:
                self._mark(problem)
            return None, problems
        problems = [] if settings.is_sandbox else sandbox_values_against_okta(self.values())
        if server:
            problems += server_problems(self._http_for_checks(), settings)
        for problem in problems:
            self._mark(problem)
        return settings, problems

    def save(self, *, check_server: bool = True) -> list[str]:
        """ "Save": check the values (marking each problem beside its field), then write them to the env
        file (comments kept). A value the server refuses is not saved; a warning is saved, and shown.

        Raises:
            ConfigError: a malformed value or one the server refused, naming each setting.
        """
        settings, problems = self.check(server=check_server)
        errors = [p for p in problems if p.level == "error"]
        if settings is None or errors:
            refused = [_named(p) for p in (errors or problems)]
            say(self.status, f"Not done: {'; '.join(refused)}. Marked beside each field: fix, then Save.")
            raise ConfigError("not saved: " + "; ".join(refused), problems=refused)
        changed = save_settings(settings)
        self._settings = settings
        warned = [p for p in problems if p.level == "warning"]
        done = f"Saved {len(changed)} changed setting(s)." if changed else "Nothing to save: no change."
        if warned:
            done += f" {len(warned)} warning(s) marked below: {', '.join(p.name for p in warned)}."
        say(self.status, done)
        return changed

    def __repr__(self) -> str:
        where = SANDBOX if self._current_is_sandbox() else OKTA
        return (
            f"Configuration form ({where}); the next cells read its current values. "
            "Use existing configuration reloads .env; Save writes the form to .env."
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return _bundle(self.widget, repr(self), **kwargs)

    def describe(self) -> Any:
        """The current values as a plain-text table (print it after the form)."""
        return describe(self.settings())


class AudienceForm:
    """ "Configure Audience (Target Auth Server) to load scopes": audience, Load scopes, scope choice.

    Example:
        form = AudienceForm(kit.http, kit.settings)
        form.load_scopes()        # what the button does; the notebook calls it so Run All needs no click
        form
        form.audience, form.scopes   # read by the token exchange cell
    """

    def __init__(self, http: Any, settings: Settings) -> None:
        self.http = http
        self.settings = settings
        self.audience_box = widgets.Text(
            value=settings.audience,
            description="Audience (issuer):",
            style={"description_width": "10em"},
            layout=_LAYOUT,
        )
        self.load_button = widgets.Button(description="Load scopes", icon="download")
        self.save_button = widgets.Button(description="Save", icon="save", button_style="primary")
        self.scope_list = widgets.SelectMultiple(
            options=[], description="Scopes:", rows=5, style={"description_width": "10em"}
        )
        self.manual_box = widgets.Text(
            value=settings.agent_scope,
            description="Other scopes:",
            placeholder="space-separated, for scopes not in public metadata",
            style={"description_width": "10em"},
            layout=_LAYOUT,
        )
        self.status = status_line("Scopes not loaded yet: type them in Other scopes, or Load scopes.")
        self.loaded_from: str | None = None
        self.load_button.on_click(lambda _: self.load_scopes())
        self.save_button.on_click(lambda _: self._save_safely())
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>Configure Audience (Target Auth Server) to load scopes</b>"),
                widgets.HBox([self.audience_box, self.load_button]),
                self.scope_list,
                self.manual_box,
                widgets.HBox([self.save_button, self.status]),
            ]
        )

    @property
    def audience(self) -> str:
        """The audience as typed: the target authorization server's issuer (exactly: a trailing slash
        names another issuer, RFC 8414 §3.3, and is not silently removed)."""
        return self.audience_box.value.strip()

    @property
    def scopes(self) -> list[str]:
        """The scopes chosen: those selected in the list, then those typed (each once)."""
        chosen: list[str] = []
        for scope in [*self.scope_list.value, *self.manual_box.value.replace(",", " ").split()]:
            if scope not in chosen:
                chosen.append(scope)
        return chosen

    def load_scopes(self) -> list[str]:
        """ "Load scopes": read `scopes_supported` from the audience's metadata into the list.

        A failure is shown in the status line (manual entry still works); returns the scopes loaded.
        """
        wanted = self.scopes
        try:
            with self.http.labelled("Load scopes"):
                metadata = fetch_metadata(self.http, self.audience, form="okta")
        except KitError as exc:
            self.scope_list.options = []
            self.loaded_from = None
            say(self.status, f"Could not load scopes ({exc}); type them in Other scopes.")
            return []
        public = [s for s in metadata.scopes_supported if not oidc_scopes([s])]
        self.scope_list.options = public
        self.scope_list.value = tuple(s for s in public if s in wanted)
        self.manual_box.value = " ".join(s for s in wanted if s not in public)
        self.loaded_from = metadata.url
        if public:
            say(
                self.status,
                f"Loaded {len(public)} public scope(s). A scope not in public metadata can be "
                "typed in Other scopes.",
            )
        else:
            say(self.status, "The server lists no public scopes: type the scopes in Other scopes.")
        return public

    def save(self) -> list[str]:
        """ "Save": write the audience and the chosen scopes to the env file (AUDIENCE, AGENT_SCOPES).

        The audience is saved empty when it is the configured custom server's issuer, so it keeps
        following OKTA_ORG_URL and OKTA_AUTH_SERVER_ID.

        Raises:
            ConfigError: no scope chosen, or a value the settings refuse (named with what is expected).
        """
        if not self.scopes:
            raise ConfigError("AGENT_SCOPES would be empty, expected at least one scope of the target server")
        audience = "" if self.audience == self.settings.custom_issuer else self.audience
        updated = self.settings.replace(audience_setting=audience, agent_scopes=tuple(self.scopes))
        changed = save_settings(
            {"AUDIENCE": audience, "AGENT_SCOPES": updated.agent_scope}, self.settings.env_file
        )
        self.settings = updated
        say(self.status, f"Saved {', '.join(changed)}." if changed else "Nothing to save: no change.")
        return changed

    def _save_safely(self) -> None:
        try:
            self.save()
        except KitError as exc:
            say(self.status, f"Not saved: {exc}")

    def __repr__(self) -> str:
        loaded = ", ".join(self.scope_list.options) if self.scope_list.options else "(none loaded)"
        return (
            f"Audience form\n  audience: {self.audience}\n  public scopes: {loaded}\n"
            f"  scopes chosen: {' '.join(self.scopes) or '(none)'}"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return _bundle(self.widget, repr(self), **kwargs)
