"""Run okta-jwt-verifier on tokens, in a fresh interpreter: JSON cases on stdin, JSON results on stdout.

A child process, so that only the environment the test gives it says which CAs to trust: aiohttp
(the verifier's async path) reads SSL_CERT_FILE when it is imported.

    {"mode": "async" | "sync", "cases": [{"name", "kind": "id" | "access", "issuer", "audience",
     "client_id", "token", "nonce"}]}  ->  [{"name", "accepted", "error"}]
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from okta_jwt_verifier import AccessTokenVerifier, IDTokenVerifier


def verify(case: dict[str, Any], mode: str) -> dict[str, Any]:
    """Verify one token as the case says; return whether it was accepted, and the error if not."""
    try:
        if case["kind"] == "id":
            verifier = IDTokenVerifier(issuer=case["issuer"], client_id=case["client_id"])
            args: tuple[Any, ...] = (case["token"], ("iss", "exp"), case.get("nonce"))
        else:
            verifier = AccessTokenVerifier(issuer=case["issuer"], audience=case["audience"])
            args = (case["token"],)
        if mode == "async":
            asyncio.run(verifier.verify(*args))
        else:
            verifier.verify_sync(*args)
    except Exception as exc:  # noqa: BLE001 - every refusal is a result to report
        return {"name": case["name"], "accepted": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"name": case["name"], "accepted": True, "error": None}


def main() -> None:
    request = json.load(sys.stdin)
    json.dump([verify(case, request["mode"]) for case in request["cases"]], sys.stdout)


if __name__ == "__main__":
    main()
