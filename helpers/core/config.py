"""The kit's settings: read from `.env` (never overriding the environment), checked, saved back.

- python-dotenv reads the file; `${OKTA_ORG_URL}` in a value is filled from the environment first.
- Okta's URL layout (developer.okta.com "Authorization servers"): org server `{org}/oauth2/v1/...`,
  custom server `{org}/oauth2/{authServerId}/v1/...`; the derived properties follow it.

Three locations, each overridable by an environment variable so tests and exports never touch a
person's files: `KIT_HOME` (project root), `KIT_ENV_FILE` (default `<home>/.env`) and `KIT_STATE_DIR`
(default `<home>/.kit`: the session file and request logs).
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv.main import DotEnv

from ..constants import SUBJECT_TOKEN_TYPES, TOKEN_TYPE_ID_TOKEN
from .errors import ConfigError, field_problem
from .jupyterhub import BROWSER_BASE_URL_VAR, resolve_browser_base_url
from .keys import SUPPORTED_ALGS, write_private_file
from .rules import OKTA_OIDC_SCOPE_REASON, oidc_scopes

#: Every variable the kit reads from `.env`, in the order `describe()` and the form show them.
ENV_VARS = (
    "OKTA_ORG_URL",
    "OKTA_AUTH_SERVER_ID",
    "AGENT_CLIENT_ID",
    "AGENT_PRIVATE_KEY_FILE",
    "AGENT_PUBLIC_JWKS_FILE",
    "AGENT_KEY_ALG",
    "AGENT_KEY_ID",
    "REDIRECT_URI",
    "SIGNIN_SCOPES",
    "AGENT_SCOPES",
    "AUDIENCE",
    "RESOURCE",
    "SUBJECT_TOKEN_TYPE",
    "API_URL",
    "KIT_REDACT",
    "KIT_HEADLESS",
    "SANDBOX_USERNAME",
    "SANDBOX_PASSWORD",
)

#: The Okta API token that reads the System Log (`Authorization: SSWS …`): the sandbox's (`make lab`
#: writes it) or your org's. A secret: never in `describe()`, the form, an output or a log.
API_TOKEN_VAR = "OKTA_API_TOKEN"
#: How long an interactive sign-in waits for the browser's redirect, in whole seconds.
SIGNIN_TIMEOUT_VAR = "KIT_SIGNIN_TIMEOUT"
DEFAULT_SIGNIN_TIMEOUT = 300
#: What the helpers do about a local sandbox org URL (helpers.local_sandbox): "auto" (start your own
#: when nothing answers; refuse one that is provably not yours, and on a JupyterHub one that is not
#: provably yours), "own" (that strict everywhere), "off" (never start or check one).
SANDBOX_MODE_VAR = "KIT_SANDBOX"
SANDBOX_MODES = ("auto", "own", "off")
#: A PEM file of CA certificates the kit trusts in addition to requests' bundle (helpers.core.tls): a company
#: TLS proxy's CA, or the sandbox's `tls/ca.pem` when it serves HTTPS. Empty: none. TLS is always verified.
CA_BUNDLE_VAR = "KIT_CA_BUNDLE"
#: Variables read and saved like the others but kept out of the form and `describe()`.
#: The origin app of Okta's "machine access" variant (notebook 06, helpers.origin_app): read here like
#: every setting, validated by helpers.origin_app when the variant is used (sandbox defaults there).
ORIGIN_VARS = ("ORIGIN_CLIENT_ID", "ORIGIN_CLIENT_SECRET", "ORIGIN_AUTH_SERVER_ID", "AGENT_RESOURCE_URL")
HIDDEN_VARS = (
    API_TOKEN_VAR,
    SIGNIN_TIMEOUT_VAR,
    BROWSER_BASE_URL_VAR,
    SANDBOX_MODE_VAR,
    CA_BUNDLE_VAR,
    *ORIGIN_VARS,
)

#: Values used when neither the environment nor the env file sets a variable (same as .env.example).
DEFAULTS: dict[str, str] = {
    "OKTA_ORG_URL": "http://127.0.0.1:8400",
    "OKTA_AUTH_SERVER_ID": "default",
    "AGENT_CLIENT_ID": "wlpSandboxAgent00001",
    "AGENT_PRIVATE_KEY_FILE": ".keys/agent.pem",
    "AGENT_PUBLIC_JWKS_FILE": ".keys/agent.jwks.json",
    "AGENT_KEY_ALG": "RS256",
    "AGENT_KEY_ID": "",
    "REDIRECT_URI": "http://127.0.0.1:8765/callback",
    "SIGNIN_SCOPES": "openid profile email",
    "AGENT_SCOPES": "todo.read",
    "AUDIENCE": "",
    "RESOURCE": "",
    "SUBJECT_TOKEN_TYPE": TOKEN_TYPE_ID_TOKEN,
    "API_URL": "${OKTA_ORG_URL}/todo-api/todos",
    "KIT_REDACT": "true",
    "KIT_HEADLESS": "false",
    "SANDBOX_USERNAME": "alice@example.com",
    "SANDBOX_PASSWORD": "Wonderland-2026!",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def kit_home() -> Path:
    """Return the project root: `KIT_HOME`, else the nearest folder up with pyproject.toml and notebooks/."""
    if os.environ.get("KIT_HOME"):
        return Path(os.environ["KIT_HOME"]).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return Path(__file__).resolve().parent.parent


def env_file_path(home: Path | None = None) -> Path:
    """Return the env file to read and save: `KIT_ENV_FILE`, else `<home>/.env`."""
    if os.environ.get("KIT_ENV_FILE"):
        return Path(os.environ["KIT_ENV_FILE"]).expanduser().resolve()
    return (home or kit_home()) / ".env"


def state_dir_path(home: Path | None = None) -> Path:
    """Return the folder of the session file and request logs: `KIT_STATE_DIR`, else `<home>/.kit`."""
    if os.environ.get("KIT_STATE_DIR"):
        return Path(os.environ["KIT_STATE_DIR"]).expanduser().resolve()
    return (home or kit_home()) / ".kit"


def is_loopback_host(host: str | None) -> bool:
    """Tell whether a host name is a loopback address (127.0.0.0/8, ::1) or `localhost`."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_scopes(value: str) -> tuple[str, ...]:
    return tuple(part for part in value.replace(",", " ").split() if part)


@dataclass(frozen=True)
class Settings:
    """One immutable view of the configuration; derived URLs follow Okta's layout."""

    org_url: str
    auth_server_id: str
    agent_client_id: str
    agent_private_key_file: Path
    agent_public_jwks_file: Path
    agent_key_alg: str = "RS256"
    agent_key_id: str | None = None
    redirect_uri: str = DEFAULTS["REDIRECT_URI"]
    signin_scopes: tuple[str, ...] = ("openid", "profile", "email")
    agent_scopes: tuple[str, ...] = ("todo.read",)
    audience_setting: str = ""
    resource: str | None = None
    subject_token_type: str = TOKEN_TYPE_ID_TOKEN
    api_url: str = ""
    redact: bool = True
    headless: bool = False
    sandbox_username: str = DEFAULTS["SANDBOX_USERNAME"]
    sandbox_password: str = field(default=DEFAULTS["SANDBOX_PASSWORD"], repr=False)
    okta_api_token: str | None = field(default=None, repr=False)
    signin_timeout: int = DEFAULT_SIGNIN_TIMEOUT
    #: KIT_BROWSER_BASE_URL resolved ("auto" filled from the hub's variables); empty: no front channel.
    browser_base_url: str = ""
    #: ORIGIN_VARS as set (environment, then env file); empty when unset. Holds a secret: never shown.
    origin: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    sandbox_mode: str = "auto"
    #: KIT_CA_BUNDLE resolved against the kit home; None when unset.
    ca_bundle: Path | None = None
    home: Path = field(default_factory=kit_home)
    env_file: Path | None = None
    state_dir: Path | None = None

    # --- the org authorization server (issuer = the org URL) ---------------------------------
    @property
    def org_issuer(self) -> str:
        """The org authorization server's issuer: the org URL itself."""
        return self.org_url

    @property
    def org_authorize_url(self) -> str:
        """`{org}/oauth2/v1/authorize`."""
        return f"{self.org_url}/oauth2/v1/authorize"

    @property
    def org_token_url(self) -> str:
        """`{org}/oauth2/v1/token`: steps 1 and 2, and the `aud` of their client assertions."""
        return f"{self.org_url}/oauth2/v1/token"

    @property
    def org_keys_url(self) -> str:
        """`{org}/oauth2/v1/keys`: the org keys that sign ID tokens and ID-JAGs."""
        return f"{self.org_url}/oauth2/v1/keys"

    @property
    def org_metadata_url(self) -> str:
        """`{org}/.well-known/openid-configuration`."""
        return f"{self.org_url}/.well-known/openid-configuration"

    # --- the custom authorization server ------------------------------------------------------
    @property
    def custom_issuer(self) -> str:
        """`{org}/oauth2/{authServerId}`: the custom server's issuer."""
        return f"{self.org_url}/oauth2/{self.auth_server_id}"

    @property
    def custom_token_url(self) -> str:
        """`{org}/oauth2/{authServerId}/v1/token`: step 3, and the `aud` of its client assertion."""
        return f"{self.custom_issuer}/v1/token"

    @property
    def custom_keys_url(self) -> str:
        """`{org}/oauth2/{authServerId}/v1/keys`: the keys that sign the access tokens."""
        return f"{self.custom_issuer}/v1/keys"

    @property
    def custom_metadata_url(self) -> str:
        """`{org}/oauth2/{authServerId}/.well-known/oauth-authorization-server`."""
        return f"{self.custom_issuer}/.well-known/oauth-authorization-server"

    @property
    def audience(self) -> str:
        """The `audience` of the token exchange: AUDIENCE, or the custom server's issuer."""
        return self.audience_setting or self.custom_issuer

    @property
    def is_sandbox(self) -> bool:
        """True when the org URL is plain http on a loopback address (the bundled sandbox)."""
        parts = urlsplit(self.org_url)
        return parts.scheme == "http" and is_loopback_host(parts.hostname)

    # --- front channel (the browser) and back channel (the kernel) -----------------------------
    @property
    def front_channel(self) -> bool:
        """True when the browser reaches the sign-in page and the listener through the Jupyter server.

        Only for an interactive sign-in: a headless run never involves a browser.
        """
        return bool(self.browser_base_url) and not self.headless

    def browser_url(self, url: str) -> str:
        """The address the browser uses for a page of the sandbox: through jupyter-server-proxy on a hub.

        With the front channel on, `{org}/p` becomes `{KIT_BROWSER_BASE_URL}/proxy/{port}/p`; the kernel
        keeps using `url` itself (the back channel).
        """
        if self.front_channel and self.is_sandbox and url.startswith(self.org_url):
            return f"{self.browser_base_url}/proxy/{_port_of(self.org_url)}{url[len(self.org_url) :]}"
        return url

    @property
    def browser_authorize_url(self) -> str:
        """The authorize URL the browser opens: the sandbox's through jupyter-server-proxy on a hub."""
        return self.browser_url(self.org_authorize_url)

    @property
    def browser_redirect_uri(self) -> str:
        """The redirect URI sent in the sign-in: the listener's address as the browser reaches it.

        With the front channel on, `{KIT_BROWSER_BASE_URL}/proxy/{port}{path}` for a loopback
        REDIRECT_URI (the kernel's listener still binds REDIRECT_URI); otherwise REDIRECT_URI itself.
        """
        parts = urlsplit(self.redirect_uri)
        if self.front_channel and parts.scheme == "http" and is_loopback_host(parts.hostname):
            return f"{self.browser_base_url}/proxy/{_port_of(self.redirect_uri)}{parts.path or '/'}"
        return self.redirect_uri

    @property
    def signin_scope(self) -> str:
        """The sign-in scopes as one space-separated `scope` value."""
        return " ".join(self.signin_scopes)

    @property
    def agent_scope(self) -> str:
        """The agent's scopes as one space-separated `scope` value."""
        return " ".join(self.agent_scopes)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed, validated again."""
        updated = dataclasses.replace(self, **changes)
        updated.validate()
        return updated

    def to_env(self) -> dict[str, str]:
        """Return the settings as the `.env` variables they came from (paths relative to home if inside)."""

        def rel(path: Path) -> str:
            try:
                return str(path.relative_to(self.home))
            except ValueError:
                return str(path)

        return {
            "OKTA_ORG_URL": self.org_url,
            "OKTA_AUTH_SERVER_ID": self.auth_server_id,
            "AGENT_CLIENT_ID": self.agent_client_id,
            "AGENT_PRIVATE_KEY_FILE": rel(self.agent_private_key_file),
            "AGENT_PUBLIC_JWKS_FILE": rel(self.agent_public_jwks_file),
            "AGENT_KEY_ALG": self.agent_key_alg,
            "AGENT_KEY_ID": self.agent_key_id or "",
            "REDIRECT_URI": self.redirect_uri,
            "SIGNIN_SCOPES": self.signin_scope,
            "AGENT_SCOPES": self.agent_scope,
            "AUDIENCE": self.audience_setting,
            "RESOURCE": self.resource or "",
            "SUBJECT_TOKEN_TYPE": self.subject_token_type,
            "API_URL": self.api_url,
            "KIT_REDACT": "true" if self.redact else "false",
            "KIT_HEADLESS": "true" if self.headless else "false",
            "SANDBOX_USERNAME": self.sandbox_username,
            "SANDBOX_PASSWORD": self.sandbox_password,
        }

    def validate(self) -> None:
        """Check every field; raise ConfigError listing each problem as `NAME is "value", expected …`."""
        problems = _problems(self)
        if problems:
            raise ConfigError("\n".join(problems), problems=problems)

    def __repr__(self) -> str:
        return (
            f"Settings(org_url={self.org_url!r}, auth_server_id={self.auth_server_id!r}, "
            f"client_id={self.agent_client_id!r})"
        )


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _url_problems(name: str, value: str, *, allow_path: bool = True, loopback_http: bool = True) -> list[str]:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [field_problem(name, value, "an absolute URL starting with https://")]
    if parts.scheme == "http" and not (loopback_http and is_loopback_host(parts.hostname)):
        return [
            field_problem(name, value, "https:// (plain http only for a loopback address such as 127.0.0.1)")
        ]
    if value.endswith("/"):
        return [field_problem(name, value, "no trailing slash")]
    if not allow_path and parts.path not in ("",):
        return [field_problem(name, value, f'no path (e.g. "{parts.scheme}://{parts.netloc}")')]
    if parts.query or parts.fragment:
        return [field_problem(name, value, "no query string or fragment")]
    return []


def _problems(s: Settings) -> list[str]:
    out: list[str] = []
    if not s.org_url:
        out.append(field_problem("OKTA_ORG_URL", "", "the org URL, e.g. https://your-org.okta.com"))
    else:
        out += _url_problems("OKTA_ORG_URL", s.org_url, allow_path=False)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", s.auth_server_id or ""):
        out.append(
            field_problem(
                "OKTA_AUTH_SERVER_ID", s.auth_server_id, 'an authorization server id such as "default"'
            )
        )
    if not s.agent_client_id or re.search(r"\s", s.agent_client_id):
        out.append(field_problem("AGENT_CLIENT_ID", s.agent_client_id, "the agent's client_id (no spaces)"))
    if s.agent_key_alg not in SUPPORTED_ALGS:
        out.append(field_problem("AGENT_KEY_ALG", s.agent_key_alg, f"one of {', '.join(SUPPORTED_ALGS)}"))
    if s.agent_key_id is not None and re.search(r"\s", s.agent_key_id):
        out.append(field_problem("AGENT_KEY_ID", s.agent_key_id, "a key id with no spaces, or empty"))
    if not s.redirect_uri:
        out.append(field_problem("REDIRECT_URI", "", "a registered sign-in redirect URI"))
    else:
        parts = urlsplit(s.redirect_uri)
        if parts.fragment:
            out.append(field_problem("REDIRECT_URI", s.redirect_uri, "no fragment (RFC 6749 §3.1.2)"))
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            out.append(field_problem("REDIRECT_URI", s.redirect_uri, "an absolute http(s) URL"))
        elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
            out.append(
                field_problem("REDIRECT_URI", s.redirect_uri, "https://, or http:// on a loopback address")
            )
    if "openid" not in s.signin_scopes:
        out.append(
            field_problem(
                "SIGNIN_SCOPES", s.signin_scope, 'a list that includes "openid" (OIDC Core §3.1.2.1)'
            )
        )
    if not s.agent_scopes:
        out.append(
            field_problem(
                "AGENT_SCOPES", "", "at least one scope of the target server (step 2 asks for them)"
            )
        )
    oidc = sorted(oidc_scopes(s.agent_scopes))
    if oidc:
        out.append(
            field_problem(
                "AGENT_SCOPES",
                s.agent_scope,
                f"custom scopes only, without {' '.join(oidc)} (Okta: {OKTA_OIDC_SCOPE_REASON})",
            )
        )
    if s.audience_setting:
        out += _url_problems("AUDIENCE", s.audience_setting)
    if s.resource and not urlsplit(s.resource).scheme:
        out.append(field_problem("RESOURCE", s.resource, "an absolute URI (RFC 8707 §2), or empty"))
    if s.subject_token_type not in SUBJECT_TOKEN_TYPES:
        out.append(
            field_problem(
                "SUBJECT_TOKEN_TYPE", s.subject_token_type, f"one of {', '.join(SUBJECT_TOKEN_TYPES)}"
            )
        )
    if not s.api_url:
        out.append(field_problem("API_URL", "", "the URL of the API to call"))
    else:
        out += _url_problems("API_URL", s.api_url)
    if s.browser_base_url:
        out += _url_problems(BROWSER_BASE_URL_VAR, s.browser_base_url)
    if s.sandbox_mode not in SANDBOX_MODES:
        out.append(field_problem(SANDBOX_MODE_VAR, s.sandbox_mode, f"one of {', '.join(SANDBOX_MODES)}"))
    if s.ca_bundle is not None and not s.ca_bundle.is_file():
        out.append(
            field_problem(
                CA_BUNDLE_VAR, s.ca_bundle, "a PEM file of CA certificates, or empty (no such file)"
            )
        )
    return out


def _boolean(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(
        field_problem(name, value, "true or false"), problems=[field_problem(name, value, "true or false")]
    )


def _whole_seconds(name: str, value: str, default: int) -> int:
    if not value:
        return default
    if value.isdigit() and int(value) >= 1:
        return int(value)
    problem = field_problem(name, value, f"a whole number of seconds, 1 or more (default {default})")
    raise ConfigError(problem, problems=[problem])


def _resolve_path(home: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (home / path)


def read_env_values(env_file: Path | None = None) -> dict[str, str]:
    """Return the kit's variables: environment first, then the env file, then DEFAULTS.

    `${VAR}` references in file values are filled from the environment before the file
    (python-dotenv with override=False), so a test's OKTA_ORG_URL wins inside API_URL too.
    """
    env_file = env_file or env_file_path()
    file_values = {
        k: v for k, v in DotEnv(env_file, interpolate=True, override=False).dict().items() if v is not None
    }
    values: dict[str, str] = {}
    for name in ENV_VARS:
        if name in os.environ:
            values[name] = os.environ[name]
        elif name in file_values:
            values[name] = file_values[name]
        else:
            values[name] = DEFAULTS[name]
    for name in HIDDEN_VARS:
        values[name] = os.environ.get(name, file_values.get(name, ""))
    # A default (or an environment value) may itself refer to another variable.
    for name, value in values.items():
        values[name] = _VAR_REF.sub(lambda m: values.get(m.group(1), os.environ.get(m.group(1), "")), value)
    return values


def settings_from_values(
    values: Mapping[str, str],
    *,
    home: Path | None = None,
    env_file: Path | None = None,
    state_dir: Path | None = None,
) -> Settings:
    """Build and validate Settings from `.env`-style variables (missing ones take DEFAULTS)."""
    home = home or kit_home()
    env_file = env_file or env_file_path(home)
    v = {**DEFAULTS, **{k: str(val) for k, val in values.items() if val is not None}}
    missing_hidden = [name for name in HIDDEN_VARS if name not in v]
    if missing_hidden:
        # A form edits only ENV_VARS: the hidden ones keep what the environment and env file say.
        stored = read_env_values(env_file)
        v.update({name: stored.get(name, "") for name in missing_hidden})
    v = {k: val.strip() for k, val in v.items()}
    for name in ("API_URL", *ORIGIN_VARS):
        v[name] = _VAR_REF.sub(lambda m: v.get(m.group(1), ""), v[name])
    settings = Settings(
        org_url=v["OKTA_ORG_URL"],
        auth_server_id=v["OKTA_AUTH_SERVER_ID"],
        agent_client_id=v["AGENT_CLIENT_ID"],
        agent_private_key_file=_resolve_path(
            home, v["AGENT_PRIVATE_KEY_FILE"] or DEFAULTS["AGENT_PRIVATE_KEY_FILE"]
        ),
        agent_public_jwks_file=_resolve_path(
            home, v["AGENT_PUBLIC_JWKS_FILE"] or DEFAULTS["AGENT_PUBLIC_JWKS_FILE"]
        ),
        agent_key_alg=v["AGENT_KEY_ALG"].upper(),
        agent_key_id=v["AGENT_KEY_ID"] or None,
        redirect_uri=v["REDIRECT_URI"],
        signin_scopes=_split_scopes(v["SIGNIN_SCOPES"]),
        agent_scopes=_split_scopes(v["AGENT_SCOPES"]),
        audience_setting=v["AUDIENCE"],
        resource=v["RESOURCE"] or None,
        subject_token_type=v["SUBJECT_TOKEN_TYPE"],
        api_url=v["API_URL"],
        redact=_boolean("KIT_REDACT", v["KIT_REDACT"]),
        headless=_boolean("KIT_HEADLESS", v["KIT_HEADLESS"]),
        sandbox_username=v["SANDBOX_USERNAME"],
        sandbox_password=v["SANDBOX_PASSWORD"],
        okta_api_token=v.get(API_TOKEN_VAR) or None,
        signin_timeout=_whole_seconds(
            SIGNIN_TIMEOUT_VAR, v.get(SIGNIN_TIMEOUT_VAR, ""), DEFAULT_SIGNIN_TIMEOUT
        ),
        browser_base_url=resolve_browser_base_url(v.get(BROWSER_BASE_URL_VAR, "")),
        sandbox_mode=(v.get(SANDBOX_MODE_VAR, "") or "auto").lower(),
        ca_bundle=_resolve_path(home, v[CA_BUNDLE_VAR]) if v.get(CA_BUNDLE_VAR) else None,
        origin={name: v[name] for name in ORIGIN_VARS},
        home=home,
        env_file=env_file,
        state_dir=state_dir or state_dir_path(home),
    )
    settings.validate()
    return settings


def load_settings(env_file: str | os.PathLike[str] | None = None) -> Settings:
    """Load the settings: the environment wins over the env file, which wins over DEFAULTS.

    Raises:
        ConfigError: naming each malformed variable, its value and what is expected.
    """
    home = kit_home()
    path = Path(env_file).resolve() if env_file else env_file_path(home)
    return settings_from_values(
        read_env_values(path), home=home, env_file=path, state_dir=state_dir_path(home)
    )


def _format_env_value(value: str) -> str:
    if value == "" or re.fullmatch(r"[A-Za-z0-9_./:@!+,=%{}$~-]+(?: [A-Za-z0-9_./:@!+,=%{}$~-]+)*", value):
        if "#" not in value and "'" not in value and '"' not in value:
            return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def save_settings(
    settings_or_changes: Settings | Mapping[str, str], env_file: str | os.PathLike[str] | None = None
) -> list[str]:
    """Write settings (or a `{VARIABLE: value}` dict) to the env file, keeping comments and other lines.

    Only variables whose value differs from what the file holds are rewritten, so a value written
    as `${OKTA_ORG_URL}/…` keeps its reference while it still gives the same result.

    Returns:
        The names of the variables written.
    """
    if isinstance(settings_or_changes, Settings):
        wanted = settings_or_changes.to_env()
        path = Path(env_file) if env_file else (settings_or_changes.env_file or env_file_path())
    else:
        unknown = sorted(set(settings_or_changes) - set(ENV_VARS) - set(HIDDEN_VARS))
        if unknown:
            raise ConfigError(
                f"cannot save {', '.join(unknown)}: not a kit setting (expected one of {', '.join(ENV_VARS)})"
            )
        wanted = {k: str(v) for k, v in settings_or_changes.items()}
        path = Path(env_file) if env_file else env_file_path()
    path = Path(path)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        example = kit_home() / ".env.example"
        text = example.read_text(encoding="utf-8") if example.is_file() else ""
    raw = {
        k: v
        for k, v in DotEnv(None, stream=io.StringIO(text), interpolate=False).dict().items()
        if v is not None
    }
    # What each raw value gives once references are filled with the values being saved.
    merged = {**DEFAULTS, **raw, **wanted}

    def current(name: str) -> str:
        # The value the file gives today (a default when absent), references filled with the new values.
        template = raw[name] if name in raw else DEFAULTS.get(name, "")
        return _VAR_REF.sub(lambda m: merged.get(m.group(1), ""), template)

    changed = [name for name, value in wanted.items() if current(name) != value]
    lines = text.splitlines()
    done: set[str] = set()
    for index, line in enumerate(lines):
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if match and match.group(1) in changed and match.group(1) not in done:
            lines[index] = f"{match.group(1)}={_format_env_value(wanted[match.group(1)])}"
            done.add(match.group(1))
    lines += [f"{name}={_format_env_value(wanted[name])}" for name in changed if name not in done]
    write_private_file(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return changed
