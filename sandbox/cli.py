"""`python -m sandbox`: serve in the foreground, or start, stop and inspect a background instance.

    python -m sandbox serve  [--host 127.0.0.1] [--port 8400] [--config FILE]
                             [--data-dir .sandbox] [--base-dir .]
                             [--mcp-port N]   # the MCP server, on 127.0.0.1 (default: 8401 beside
                                              # port 8400, else any free port; -1: none)
                             [--tls]   # HTTPS: https://127.0.0.1:<port>, certificate from a local test CA
    python -m sandbox start  (same options)   # detached; waits until the discovery document answers
                             [--redirect-uri URI ...]   # also accept this redirect URI (every code client)
    python -m sandbox stop   [--data-dir .sandbox]
    python -m sandbox status [--data-dir .sandbox] [--host ...] [--port ...] [--tls]   # exit 0 running, 3 not
    python -m sandbox token  [--data-dir .sandbox]   # the System Log API token (SSWS), for OKTA_API_TOKEN
    python -m sandbox connect --client ID --audience URL --scopes "a b"   # ID-JAGs for an external server
    python -m sandbox disconnect --name NAME | connections                # (sandbox/connect_cli.py)

The sandbox binds 127.0.0.1 unless told otherwise; another address needs `--allow-remote`.
With `--tls` it serves HTTPS on loopback only; clients trust `<data dir>/tls/ca.pem` (sandbox.tls).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from . import connect_cli
from .config import ConfigError, SandboxConfig, load_config, with_redirect_uris
from .serving import is_loopback, make_served_sandbox
from .system_log import ensure_api_token
from .tls import CA_FILE, TLS_DIR, TLSFiles, TLSSetupError

EXIT_NOT_RUNNING = 3
PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
DEFAULT_PORT = 8400


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, serving: bool) -> None:
        p.add_argument(
            "--data-dir", default=".sandbox", help="signing keys, pid and log files (default: .sandbox)"
        )
        p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
        p.add_argument(
            "--port", type=int, default=DEFAULT_PORT, help=f"port to bind (default: {DEFAULT_PORT}; 0: any)"
        )
        p.add_argument(
            "--tls",
            action="store_true",
            help="serve HTTPS (loopback only) with a certificate from a local test CA kept in the data "
            "folder; clients trust <data dir>/tls/ca.pem",
        )
        if serving:
            p.add_argument(
                "--config", default=None, help="TOML configuration (default: the bundled default.toml)"
            )
            p.add_argument(
                "--base-dir", default=".", help="folder relative paths in the configuration resolve against"
            )
            p.add_argument(
                "--allow-remote", action="store_true", help="allow binding an address other than loopback"
            )
            p.add_argument(
                "--org-url", default=None, help="org URL to advertise (needed when binding 0.0.0.0 or ::)"
            )
            p.add_argument(
                "--mcp-port",
                type=int,
                default=None,
                help="port of the MCP server, always on 127.0.0.1 (default: 8401 beside an org on 8400, "
                "else any free port; -1: no MCP server)",
            )
            p.add_argument(
                "--redirect-uri",
                action="append",
                default=[],
                metavar="URI",
                help="another redirect URI every authorization-code client accepts (repeatable), e.g. "
                "the address a JupyterHub's proxy gives the notebook's listener",
            )

    serve = sub.add_parser("serve", help="run in the foreground (Ctrl-C stops it)")
    common(serve, serving=True)
    serve.add_argument("--pid-file", default=None, help=argparse.SUPPRESS)
    start = sub.add_parser("start", help="start in the background and wait until it answers")
    common(start, serving=True)
    start.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the discovery document"
    )
    stop = sub.add_parser("stop", help="stop the background instance of this data folder")
    stop.add_argument("--data-dir", default=".sandbox")
    stop.add_argument("--timeout", type=float, default=10.0)
    status = sub.add_parser("status", help="say whether a sandbox runs (exit 0) or not (exit 3)")
    common(status, serving=False)
    token = sub.add_parser(
        "token", help="print the System Log API token (Authorization: SSWS …), creating it if missing"
    )
    token.add_argument("--data-dir", default=".sandbox")
    parser.set_defaults(extra_handlers=connect_cli.add_parsers(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    handlers = {
        "serve": cmd_serve,
        "start": cmd_start,
        "stop": cmd_stop,
        "status": cmd_status,
        "token": cmd_token,
        **args.extra_handlers,
    }
    return handlers[args.command](args)


# --- helpers ---------------------------------------------------------------------------------


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _check_host(args: argparse.Namespace) -> str | None:
    """Return an error message if the host may not be bound, else None (warn for remote hosts)."""
    if getattr(args, "tls", False):
        if not is_loopback(args.host):
            return (
                f'refusing to serve HTTPS on "{args.host}": --tls serves loopback only (its test CA '
                "certifies localhost, 127.0.0.0/8 and ::1)"
            )
        if getattr(args, "org_url", None) and not args.org_url.startswith("https://"):
            return f'--org-url is "{args.org_url}", expected https://… with --tls'
    if is_loopback(args.host):
        return None
    if not args.allow_remote:
        return (
            f'refusing to bind "{args.host}": it is not a loopback address. The sandbox has demo users with '
            "published passwords; pass --allow-remote to expose it on a network anyway."
        )
    if args.host in ("0.0.0.0", "::") and not args.org_url:  # noqa: S104 - detecting it, not binding it
        return f'binding "{args.host}" needs --org-url (the URL clients use to reach this machine, e.g. http://host:{args.port})'
    return None


def _load(args: argparse.Namespace) -> SandboxConfig | None:
    try:
        return with_redirect_uris(load_config(args.config, base_dir=args.base_dir), args.redirect_uri)
    except ConfigError as exc:
        _err(f"sandbox: {exc}")
        return None


def _ca_for(url: str, data_dir: Path) -> str | bool:
    """Return what `requests` verifies an https `url` with: the data folder's test CA if present."""
    ca_file = data_dir / TLS_DIR / CA_FILE
    return str(ca_file) if url.startswith("https://") and ca_file.is_file() else True


def _discovery(url: str, timeout: float = 2.0, *, data_dir: Path | None = None) -> dict[str, Any] | None:
    """Return the org discovery document at `url`, or None if nothing (or not a sandbox) answers.

    An https `url` is verified with the data folder's test CA (TLS verification is never off).
    """
    verify = _ca_for(url, data_dir) if data_dir is not None else True
    try:
        response = requests.get(url + "/.well-known/openid-configuration", timeout=timeout, verify=verify)
        data = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("issuer") == url else None


def _read_pid_file(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((data_dir / PID_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux: make sure a reused pid is not some other program
        try:
            return b"sandbox" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def _url_for(args: argparse.Namespace) -> str:
    host = args.host if ":" not in args.host else f"[{args.host}]"
    scheme = "https" if getattr(args, "tls", False) else "http"
    return getattr(args, "org_url", None) or f"{scheme}://{host}:{args.port}"


# --- commands --------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM."""
    problem = _check_host(args)
    if problem:
        _err(f"sandbox: {problem}")
        return 2
    config = _load(args)
    if config is None:
        return 2
    if not is_loopback(args.host):
        _err(f"WARNING: the sandbox will listen on {args.host}, reachable from the network, over plain http.")
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    data_dir = Path(args.data_dir).resolve()
    try:
        served = make_served_sandbox(
            config,
            host=args.host,
            port=args.port,
            data_dir=data_dir,
            org_url=args.org_url,
            mcp_port=args.mcp_port,
            tls=args.tls,
        )
    except OSError as exc:
        _err(f"sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 1
    except TLSSetupError as exc:
        _err(f"sandbox: {exc}")
        return 2
    pid_file = Path(args.pid_file) if args.pid_file else None
    if pid_file:
        pid_file.write_text(
            json.dumps({"pid": os.getpid(), "url": served.url, "mcp_url": served.mcp_url}), encoding="utf-8"
        )

    def stop(signum: int, frame: Any) -> None:
        served.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _print_banner(
        served.url,
        config,
        data_dir,
        extra_redirect_uris=args.redirect_uri,
        mcp_url=served.mcp_url,
        tls=served.tls,
    )
    try:
        served.run()
    finally:
        if pid_file and (_read_pid_file(pid_file.parent) or {}).get("pid") == os.getpid():
            pid_file.unlink(missing_ok=True)
    print("Sandbox stopped.", flush=True)
    return 0


def _print_banner(
    url: str,
    config: SandboxConfig,
    data_dir: Path,
    *,
    extra_redirect_uris: list[str] | None = None,
    mcp_url: str | None = None,
    tls: TLSFiles | None = None,
) -> None:
    lines = [
        f"Sandbox org URL: {url}",
        f"  Discovery:    {url}/.well-known/openid-configuration",
        "  Custom authorization servers: " + ", ".join(f"{url}/oauth2/{sid}" for sid in config.servers),
        f"  Demo API:     {url}{config.api.path}/todos",
        f"  MCP server:   {mcp_url or '(none: --mcp-port -1)'}",
        "  Demo users:   " + ", ".join(f"{u.username} / {u.password}" for u in config.users.values()),
    ]
    for client in config.clients.values():
        if client.jwks_file is not None:
            state = "" if client.jwks_file.exists() else "  (missing: `make lab` creates it)"
            lines.append(f"  Client {client.client_id} public keys read from: {client.jwks_file}{state}")
    lines.append(f"  Data folder:  {data_dir} (signing keys)")
    if tls is not None:
        lines += _tls_lines(tls)
    if extra_redirect_uris:
        lines.append("  Also accepted as redirect URIs: " + ", ".join(extra_redirect_uris))
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _tls_lines(tls: TLSFiles) -> list[str]:
    """The banner's HTTPS lines: the certificate's names and expiry, and the CA file clients trust."""
    return [
        f"  HTTPS:        certificate for {', '.join(tls.names)}, valid until {tls.not_after:%Y-%m-%d}, "
        f"issued by {tls.ca_subject}",
        f"  CA file:      {tls.ca_file}",
        f"    trust it:   KIT_CA_BUNDLE={tls.ca_file} in the kit's .env; for other clients "
        "REQUESTS_CA_BUNDLE (requests) or SSL_CERT_FILE (urllib, aiohttp)",
    ]


def cmd_start(args: argparse.Namespace) -> int:
    """Start `serve` detached, wait for its discovery document, print the org URL."""
    problem = _check_host(args)
    if problem:
        _err(f"sandbox: {problem}")
        return 2
    if _load(args) is None:
        return 2
    data_dir = Path(args.data_dir).resolve()
    running = _read_pid_file(data_dir)
    if running and _alive(running["pid"]) and _discovery(running.get("url", ""), data_dir=data_dir):
        print(f"A sandbox already runs for {data_dir} (pid {running['pid']}).")
        print(f"Sandbox org URL: {running['url']}")
        _print_ca_file(running["url"], data_dir)
        return 0
    if args.port != 0 and _discovery(_url_for(args), data_dir=data_dir):
        print(f"A sandbox already answers at {_url_for(args)}; not starting another.")
        print(f"Sandbox org URL: {_url_for(args)}")
        return 0
    data_dir.mkdir(parents=True, exist_ok=True)
    pid_path = data_dir / PID_FILE
    pid_path.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "sandbox", "serve",
        "--host", args.host, "--port", str(args.port),
        "--data-dir", str(data_dir), "--base-dir", str(Path(args.base_dir).resolve()),
        "--pid-file", str(pid_path),
    ]  # fmt: skip
    if args.config:
        command += ["--config", str(Path(args.config).resolve())]
    if args.allow_remote:
        command.append("--allow-remote")
    if args.mcp_port is not None:
        command += ["--mcp-port", str(args.mcp_port)]
    if args.org_url:
        command += ["--org-url", args.org_url]
    if args.tls:
        command.append("--tls")
    for uri in args.redirect_uri:
        command += ["--redirect-uri", uri]
    log_path = data_dir / LOG_FILE
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _err(
                f"sandbox: the background sandbox exited with status {child.returncode}; "
                f"its log, {log_path}, ends with:"
            )
            _err(_tail(log_path))
            return 1
        info = _read_pid_file(data_dir)
        if info and _discovery(info.get("url", ""), timeout=1.0, data_dir=data_dir):
            print(f"Sandbox started in the background (pid {info['pid']}, log {log_path}).")
            print(f"Sandbox org URL: {info['url']}")
            if info.get("mcp_url"):
                print(f"MCP server: {info['mcp_url']}")
            _print_ca_file(info["url"], data_dir)
            return 0
        time.sleep(0.1)
    _err(f"sandbox: no answer within {args.timeout:.0f} s; stopping it. Log: {log_path}")
    child.terminate()
    return 1


def _print_ca_file(url: str, data_dir: Path) -> None:
    """For an https org URL, print the CA file clients trust (the kit: KIT_CA_BUNDLE in .env)."""
    if url.startswith("https://"):
        print(f"CA file (trust it: KIT_CA_BUNDLE=<this path>): {data_dir / TLS_DIR / CA_FILE}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cmd_stop(args: argparse.Namespace) -> int:
    """Send SIGTERM to the background instance of this data folder and wait for it to exit."""
    data_dir = Path(args.data_dir).resolve()
    info = _read_pid_file(data_dir)
    if info is None or not _alive(info["pid"]):
        (data_dir / PID_FILE).unlink(missing_ok=True)
        print(f"No background sandbox runs for {data_dir}.")
        return 0
    pid = info["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            (data_dir / PID_FILE).unlink(missing_ok=True)
            print(f"Sandbox stopped (pid {pid}).")
            return 0
        time.sleep(0.1)
    _err(f"sandbox: pid {pid} did not exit within {args.timeout:.0f} s after SIGTERM")
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    """Print whether a sandbox runs and its URL; exit 0 if it runs, 3 if not."""
    data_dir = Path(args.data_dir).resolve()
    info = _read_pid_file(data_dir)
    if info and _alive(info["pid"]) and _discovery(info.get("url", ""), data_dir=data_dir):
        print(f"running: {info['url']} (pid {info['pid']}, data folder {data_dir})")
        return 0
    url = _url_for(args)
    if args.port != 0 and _discovery(url, data_dir=data_dir):
        print(f"running: {url} (not started by `python -m sandbox start` for {data_dir})")
        return 0
    print(f"not running (data folder {data_dir}, {url})")
    return EXIT_NOT_RUNNING


def cmd_token(args: argparse.Namespace) -> int:
    """Print the data folder's System Log API token (made on the sandbox's first start, or now)."""
    try:
        print(ensure_api_token(Path(args.data_dir).resolve()), flush=True)
    except (OSError, RuntimeError) as exc:
        _err(f"sandbox: {exc}")
        return 1
    return 0
