"""Shared bits of the teaching tests: reading the sandbox's System Log over HTTP, and a flow's secrets."""

from __future__ import annotations

from typing import Any

import requests


def logs(lab: Any, token: str | None = None, **params: str) -> requests.Response:
    """GET /api/v1/logs with `Authorization: SSWS <token>` (the sandbox's own token unless given)."""
    headers = {"Authorization": f"SSWS {lab.api_token if token is None else token}"}
    return requests.get(f"{lab.url}/api/v1/logs", params=params, headers=headers, timeout=10)
