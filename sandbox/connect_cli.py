"""`python -m sandbox connect | disconnect | connections`: resource connections of a running sandbox.

    python -m sandbox connect --client wlpSandboxAgent00001 --audience http://127.0.0.1:9000 \\
        --scopes "notes.read notes.write" [--resource URL ...] [--name NAME]
    python -m sandbox disconnect --name NAME
    python -m sandbox connections

Each talks to the sandbox's admin API (sandbox/admin.py) with the data folder's API token
(`Authorization: SSWS …`, as the System Log API); the sandbox is the one `start` recorded for the data
folder, or `--url`. A connection added this way lives until the sandbox stops.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import requests

from .admin import CONNECTIONS_PATH
from .system_log import read_api_token


def add_parsers(sub: Any) -> dict[str, Any]:
    """Add the three commands to `python -m sandbox`'s subparsers; return their handlers by name."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", default=".sandbox", help="the sandbox's data folder (its API token)")
        p.add_argument("--url", default=None, help="the org URL (default: the one started for --data-dir)")

    connect = sub.add_parser(
        "connect", help="let a client get ID-JAGs for an external resource authorization server"
    )
    common(connect)
    connect.add_argument("--client", required=True, help="the client id (e.g. wlpSandboxAgent00001)")
    connect.add_argument("--audience", required=True, help="the external server's issuer URL, exactly")
    connect.add_argument("--scopes", required=True, help='scopes it may get, space-separated ("a b")')
    connect.add_argument("--resource", action="append", default=[], help="an RFC 8707 resource (repeatable)")
    connect.add_argument("--name", default=None, help="the connection's name (default: client and audience)")
    disconnect = sub.add_parser("disconnect", help="remove a connection added with connect")
    common(disconnect)
    disconnect.add_argument("--name", required=True)
    listing = sub.add_parser("connections", help="list the resource connections of a running sandbox")
    common(listing)
    return {"connect": cmd_connect, "disconnect": cmd_disconnect, "connections": cmd_connections}


def _err(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def _target(args: argparse.Namespace) -> tuple[str, dict[str, str]] | None:
    """Return (org URL, SSWS header), or None after saying what is missing."""
    data_dir = Path(args.data_dir).resolve()
    token = read_api_token(data_dir)
    if token is None:
        _err(f"no API token in {data_dir}: start the sandbox with --data-dir {args.data_dir} first")
        return None
    url = args.url
    if url is None:
        try:
            url = json.loads((data_dir / "sandbox.pid").read_text(encoding="utf-8")).get("url")
        except (OSError, ValueError, AttributeError):
            url = None
    if not url:
        _err(f"no running sandbox recorded in {data_dir}; pass --url")
        return None
    return url.rstrip("/"), {"Authorization": f"SSWS {token}", "Accept": "application/json"}


def _send(method: str, url: str, headers: dict[str, str], **kwargs: Any) -> requests.Response | None:
    try:
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)
    except requests.RequestException as exc:
        _err(f"{method} {url} failed: {exc}")
        return None


def _refused(response: requests.Response) -> int:
    try:
        body = response.json()
        causes = "; ".join(c.get("errorSummary", "") for c in body.get("errorCauses", []))
        _err(f"HTTP {response.status_code}: {body.get('errorSummary')}" + (f" ({causes})" if causes else ""))
    except (ValueError, AttributeError):
        _err(f"HTTP {response.status_code}: {response.text[:200]}")
    return 1


def cmd_connect(args: argparse.Namespace) -> int:
    """Add (or replace) an external resource connection; print it."""
    target = _target(args)
    if target is None:
        return 2
    url, headers = target
    body: dict[str, Any] = {
        "client_id": args.client,
        "audience": args.audience,
        "scopes": args.scopes.split(),
        "resources": args.resource,
    }
    if args.name:
        body["name"] = args.name
    response = _send("POST", url + CONNECTIONS_PATH, headers, json=body)
    if response is None:
        return 1
    if response.status_code not in (200, 201):
        return _refused(response)
    item = response.json()
    print(
        f"Connected: {item['client_id']} may get ID-JAGs for {item['audience']} "
        f'(scopes {" ".join(item["scopes"])}; connection "{item["name"]}").'
    )
    print(f"The server there finds the org's keys at {url}/.well-known/openid-configuration (jwks_uri).")
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    """Remove a connection added at run time."""
    target = _target(args)
    if target is None:
        return 2
    url, headers = target
    response = _send("DELETE", f"{url}{CONNECTIONS_PATH}/{args.name}", headers)
    if response is None:
        return 1
    if response.status_code != 204:
        return _refused(response)
    print(f'Removed the connection "{args.name}".')
    return 0


def cmd_connections(args: argparse.Namespace) -> int:
    """Print every resource connection, one a line."""
    target = _target(args)
    if target is None:
        return 2
    url, headers = target
    response = _send("GET", url + CONNECTIONS_PATH, headers)
    if response is None:
        return 1
    if response.status_code != 200:
        return _refused(response)
    for item in response.json():
        where = item["audience"] or f"{url}/oauth2/{item['authorization_server']}"
        scopes = " ".join(item["scopes"])
        print(f"{item['name']}: {item['client_id']} -> {where} [{scopes}] ({item['source']})")
    return 0
