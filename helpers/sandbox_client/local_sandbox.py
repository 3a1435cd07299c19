"""The person's own sandbox: started when a notebook needs it and nothing answers, and checked to be theirs.

- One code path: the sandbox's org URL is `http://127.0.0.1:<port>`; the helpers never import
  `sandbox`, they start it as a process (`python -m sandbox start`) and talk to it over HTTP.
- Okta's System Log API (`GET {org}/api/v1/logs`, `Authorization: SSWS <token>`): the sandbox accepts
  only the API token of its own data folder, so that call tells whether the sandbox answering on the
  person's port is theirs, over HTTP, without reading any of the sandbox's key files.

Opening a notebook outside `make lab` (on a JupyterHub, in VS Code, in classic Jupyter) goes through
`Kit.open`, which calls `ensure_local_sandbox(settings)`. When OKTA_ORG_URL is plain http on a loopback
address (a local sandbox URL) and nothing answers there, it makes sure the agent's key pair and public
JWKS exist, starts the sandbox in the background with the person's own data folder (`<KIT_HOME>/.sandbox`,
mode 0700) and `--base-dir <KIT_HOME>` (where the sandbox reads the agent's JWKS), registers the redirect
URIs the kit will send (REDIRECT_URI, and its address through the hub's proxy when KIT_BROWSER_BASE_URL
is set), writes the sandbox's System Log API token to the person's `.env` as OKTA_API_TOKEN, and says so
in one line. The next notebook finds it answering and reuses it. `make lab` (tools/lab.py) calls the
same function.

Whose sandbox answers? Each sandbox makes a System Log API token in its data folder and accepts no other.
A sandbox that refuses the token of the person's data folder is someone else's (another person's on a
shared machine, or one started from another folder): that is a `LocalSandboxError`, never a silent
mix-up. KIT_SANDBOX says how strict to be: `auto` (default) refuses a sandbox that refuses the person's
token, and on a JupyterHub also one when the data folder holds no token yet (the person never started
one: it must be someone else's); `own` is that strict everywhere; `off` never starts or checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ..core.config import API_TOKEN_VAR, Settings, is_loopback_host, save_settings
from ..core.errors import LocalSandboxError
from ..core.keys import ensure_agent_key

#: The person's sandbox data folder, under the kit home (signing keys, API token, pid and log files).
DATA_DIR_NAME = ".sandbox"
#: Where the sandbox keeps its System Log API token (`python -m sandbox token` prints it).
API_TOKEN_FILE = "api-token"
LOG_FILE = "sandbox.log"
#: Seconds `python -m sandbox start` may take (first start: three RSA keys; a busy 2-core machine).
START_TIMEOUT = 60
#: Seconds a probe of the org URL waits for an answer.
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class LocalSandbox:
    """What `ensure_local_sandbox` found or did.

    `state`: "started" (nothing answered; the person's sandbox was started), "running" (it answered and
    is theirs, or could not be told apart, see `owned`), "not local" (the org URL is not a loopback
    sandbox URL: an Okta org), "off" (KIT_SANDBOX=off).
    """

    state: str
    org_url: str
    settings: Settings = dataclasses.field(repr=False)
    data_dir: Path | None = None
    owned: bool | None = None
    api_token_written: bool = False
    message: str = ""


# --- where, and with which arguments ------------------------------------------------------------------
def sandbox_port(org_url: str) -> int | None:
    """Return the port of a local sandbox org URL (plain http on a loopback host), else None (Okta)."""
    parts = urlsplit(org_url)
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return parts.port or 80
    return None


def data_dir_for(settings: Settings) -> Path:
    """Return the person's sandbox data folder: `<KIT_HOME>/.sandbox`."""
    return settings.home / DATA_DIR_NAME


def redirect_uris_for(settings: Settings) -> list[str]:
    """Return the redirect URIs the person's sandbox must accept: REDIRECT_URI, and, when
    KIT_BROWSER_BASE_URL is set, the same listener as the browser reaches it through the hub's proxy
    (registered even for a headless run, so a later interactive sign-in finds it)."""
    interactive = dataclasses.replace(settings, headless=False)
    return list(dict.fromkeys([settings.redirect_uri, interactive.browser_redirect_uri]))


def sandbox_command(settings: Settings, command: str = "start", *, python: str | None = None) -> list[str]:
    """Return `python -m sandbox <command>` for the person: port, data folder, base folder, redirect URIs.

    Raises:
        LocalSandboxError: OKTA_ORG_URL is not a local sandbox URL.
    """
    port = sandbox_port(settings.org_url)
    if port is None:
        raise LocalSandboxError(
            f'OKTA_ORG_URL is "{settings.org_url}", expected a local sandbox URL such as http://127.0.0.1:8400'
        )
    host = urlsplit(settings.org_url).hostname or "127.0.0.1"
    argv = [python or sys.executable, "-m", "sandbox", command]
    if host == "localhost":
        # Bind the IPv4 loopback, advertise the URL as configured (the issuer must equal OKTA_ORG_URL).
        argv += ["--host", "127.0.0.1", "--org-url", settings.org_url]
    else:
        argv += ["--host", host]
    argv += ["--port", str(port), "--data-dir", str(data_dir_for(settings)), "--base-dir", str(settings.home)]
    for uri in redirect_uris_for(settings):
        argv += ["--redirect-uri", uri]
    return argv


# --- probes --------------------------------------------------------------------------------------------
def answers(org_url: str, *, timeout: float = PROBE_TIMEOUT) -> dict[str, Any] | None:
    """Return the org's discovery document if a server answers at `org_url` with that issuer, else None.

    Plain `requests`, not the kit's session: these probes stay out of the notebook's request log.
    """
    try:
        response = requests.get(f"{org_url}/.well-known/openid-configuration", timeout=timeout)
        document = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    # OIDC Discovery §4.3: the issuer in the document MUST be identical to the URL it was fetched for.
    return document if isinstance(document, dict) and document.get("issuer") == org_url else None


def accepts_token(org_url: str, token: str, *, timeout: float = PROBE_TIMEOUT) -> bool:
    """Tell whether the org at `org_url` accepts `token` for its System Log (200, not 401)."""
    try:
        answer = requests.get(
            f"{org_url}/api/v1/logs",
            params={"limit": "1"},
            headers={"Authorization": f"SSWS {token}", "Accept": "application/json"},
            timeout=timeout,
        )
    except requests.RequestException:
        return False
    return answer.status_code == 200


def _shown(path: Path, home: Path) -> str:
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)


def strict_about_owner(settings: Settings) -> bool:
    """Tell whether a sandbox that cannot be proven the person's is refused: KIT_SANDBOX=own, or "auto"
    on a JupyterHub (JUPYTERHUB_SERVICE_PREFIX is set), where other people's sandboxes run beside it."""
    on_a_hub = bool(os.environ.get("JUPYTERHUB_SERVICE_PREFIX"))
    return settings.sandbox_mode == "own" or (settings.sandbox_mode == "auto" and on_a_hub)


def check_owner(settings: Settings) -> bool | None:
    """Tell whether the sandbox answering at the org URL is the person's own (None: cannot tell).

    Raises:
        LocalSandboxError: it refuses the System Log API token of the person's data folder; or, when
            strict (`strict_about_owner`), that folder holds no token yet (this person never started one).
    """
    data_dir = data_dir_for(settings)
    where = settings.org_url
    fix = (
        f"stop it (python -m sandbox stop --data-dir <its folder>) or point OKTA_ORG_URL at a free port of "
        f"yours; your own sandbox then starts from {data_dir}"
    )
    if (data_dir / API_TOKEN_FILE).is_file():
        token = read_api_token(settings)
        if token and accepts_token(where, token):
            return True
        raise LocalSandboxError(
            f"the sandbox answering at {where} is not yours: it refuses the System Log API token of your "
            f"data folder {data_dir}. It is someone else's, or one started from another folder: {fix}"
        )
    if strict_about_owner(settings):
        raise LocalSandboxError(
            f"a sandbox answers at {where}, but it is not yours: you have never started one from {data_dir} "
            f"(no API token there), so on a shared machine it belongs to someone else: {fix}"
        )
    return None


# --- the API token, as `make lab` writes it ---------------------------------------------------------------
def read_api_token(settings: Settings, *, python: str | None = None) -> str | None:
    """Return the person's sandbox System Log API token (made by the sandbox; never printed)."""
    data_dir = data_dir_for(settings)
    path = data_dir / API_TOKEN_FILE
    if not path.is_file():
        # `python -m sandbox token` creates it the way the sandbox does (mode 0600, atomically).
        done = subprocess.run(  # noqa: S603 - our interpreter and module, no shell
            [python or sys.executable, "-m", "sandbox", "token", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        return (done.stdout.strip() or None) if done.returncode == 0 else None
    return path.read_text(encoding="utf-8").strip() or None


def write_api_token(settings: Settings, token: str) -> tuple[Settings, bool, str]:
    """Put `token` into the person's `.env` as OKTA_API_TOKEN (like `make lab`); return the settings to
    use, whether `.env` changed, and a note when the environment's own OKTA_API_TOKEN wins over it."""
    note = ""
    environment = os.environ.get(API_TOKEN_VAR, "")
    written = False
    if settings.okta_api_token != token:
        env_file = settings.env_file or settings.home / ".env"
        stored = save_settings({API_TOKEN_VAR: token}, env_file)
        written = bool(stored)
    if environment and environment != token:
        note = f"note: {API_TOKEN_VAR} is set in your environment and wins over .env"
        return settings, written, note
    return dataclasses.replace(settings, okta_api_token=token), written, note


# --- start, stop ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the data folder while starting (two notebooks opened at once)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, `sandbox start` still refuses a second one
        yield
        return
    fd = os.open(data_dir / ".start.lock", os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _private_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # the sandbox's keys, API token and log are the person's alone


def start_sandbox_process(settings: Settings, *, python: str | None = None) -> str:
    """Run `python -m sandbox start` for the person and return what it printed.

    Raises:
        LocalSandboxError: it did not start (the port taken by another program, a bad configuration),
            with the end of its log.
    """
    data_dir = data_dir_for(settings)
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter and module, no shell
            sandbox_command(settings, "start", python=python),
            cwd=settings.home,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalSandboxError(
            f"could not run `python -m sandbox start` for {settings.org_url}: {exc}"
        ) from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[-600:]
        raise LocalSandboxError(
            f"your sandbox did not start at {settings.org_url} (exit {done.returncode}): {said} "
            f"(log: {data_dir / LOG_FILE})"
        )
    return done.stdout


def ensure_local_sandbox(
    settings: Settings, *, log: Callable[[str], None] = print, python: str | None = None
) -> LocalSandbox:
    """Make sure the person's own sandbox answers at a local OKTA_ORG_URL: reuse it, or start it.

    Says one line when it starts one (naming the data folder and the API token written to `.env`);
    nothing when it reuses one.

    Raises:
        LocalSandboxError: it could not start, or the sandbox answering is not the person's (see
            `check_owner`).
    """
    org_url = settings.org_url
    if sandbox_port(org_url) is None:
        return LocalSandbox("not local", org_url, settings)
    if settings.sandbox_mode == "off":
        return LocalSandbox("off", org_url, settings)
    data_dir = data_dir_for(settings)
    discovery = answers(org_url)
    if discovery is None:
        _private_folder(data_dir)
        with _start_lock(data_dir):
            discovery = answers(org_url)  # another notebook may have started it meanwhile
            if discovery is None:
                return _start(settings, data_dir, log=log, python=python)
    return _reuse(settings, data_dir)


def _reuse(settings: Settings, data_dir: Path) -> LocalSandbox:
    """A sandbox answers: use it if it may be the person's (`check_owner` refuses it otherwise).

    Nothing is written: the API token went to `.env` when the sandbox was started (here or by
    `make lab`), and a person who removed it since has their reasons.
    """
    owned = check_owner(settings)
    return LocalSandbox("running", settings.org_url, settings, data_dir, owned)


def _start(
    settings: Settings, data_dir: Path, *, log: Callable[[str], None], python: str | None
) -> LocalSandbox:
    ensure_agent_key(
        settings.agent_private_key_file,
        settings.agent_public_jwks_file,
        alg=settings.agent_key_alg,
        kid=settings.agent_key_id or None,
    )
    started = time.monotonic()
    start_sandbox_process(settings, python=python)
    discovery = answers(settings.org_url, timeout=5)
    if discovery is None:
        raise LocalSandboxError(
            f"your sandbox started but does not answer at {settings.org_url}; see {data_dir / LOG_FILE}"
        )
    owned = check_owner(settings)
    token = read_api_token(settings, python=python)
    written, note = False, ""
    if token:
        settings, written, note = write_api_token(settings, token)
    home = settings.home
    message = (
        f"Started your own sandbox at {settings.org_url} ({time.monotonic() - started:.1f} s; nothing "
        f"answered there): data folder {_shown(data_dir, home)}, log {_shown(data_dir / LOG_FILE, home)}"
        + (f", {API_TOKEN_VAR} written to .env" if written else "")
        + "; the next notebooks reuse it."
    )
    log(message)
    if note:
        log(note)
    return LocalSandbox("started", settings.org_url, settings, data_dir, owned, written, message)


def stop_local_sandbox(settings: Settings, *, python: str | None = None) -> str:
    """Stop the person's background sandbox (`python -m sandbox stop` on their data folder)."""
    done = subprocess.run(  # noqa: S603 - our interpreter and module, no shell
        [python or sys.executable, "-m", "sandbox", "stop", "--data-dir", str(data_dir_for(settings))],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return (done.stdout or done.stderr).strip()
