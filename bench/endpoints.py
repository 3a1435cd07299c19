"""Per-endpoint latency of the sandbox (median, p95) next to the floor of the cryptography each request needs.

The sandbox runs as people run it: `python -m sandbox serve`, its own process, waitress. The client
keeps one connection alive and builds everything single-use (codes, client assertions, ID-JAGs)
before the clock starts, so each figure is the request alone. The floor verifies and signs the same
JWTs with the library the sandbox uses (joserfc), keys built once, in this process.

    python -m bench endpoints [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import requests
from joserfc import jws, jwt
from joserfc.jwk import RSAKey, import_key

from bench.common import machine, median, ms, percentile, sandbox_process, table, timed, use_test_clients

use_test_clients()
from sandbox_flows import (  # noqa: E402
    CLIENT_ASSERTION_TYPE,
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER,
    TOKEN_EXCHANGE,
    Signer,
    full_flow,
    sign_in,
    token_exchange,
)


def _keys(data_dir) -> dict[str, RSAKey]:
    folder = data_dir / "keys"
    return {
        "org": RSAKey.import_key(json.loads((folder / "org.jwk.json").read_text())),
        "default": RSAKey.import_key(
            json.loads((folder / "authorization-server-default.jwk.json").read_text())
        ),
    }


def measure(count: int) -> list[list[Any]]:
    """Return the table rows: endpoint, median, p95, crypto floor and ratio, HTTP floor and ratio to both."""
    with sandbox_process() as sb:
        signer = Signer(sb.agent)
        org_token = sb.url + "/oauth2/v1/token"
        custom_token = sb.url + "/oauth2/default/v1/token"
        session = requests.Session()
        session.trust_env = False  # no proxy lookup in os.environ per request (about 1 ms of client time)
        warm = full_flow(sb.url, signer)
        keys = _keys(sb.data_dir)
        agent_public = import_key(dict(sb.agent.public_jwk))

        # Everything single use, made before the clock starts.
        grants = [sign_in(sb.url) for _ in range(count)]
        code_forms = [
            {
                "grant_type": "authorization_code",
                "code": g.code,
                "redirect_uri": g.redirect_uri,
                "code_verifier": g.verifier,
                **signer.auth(org_token),
            }
            for g in grants
        ]
        exchange_forms = [
            {
                "grant_type": TOKEN_EXCHANGE,
                "requested_token_type": ID_JAG_TYPE,
                "audience": sb.url + "/oauth2/default",
                "scope": "todo.read todo.write",
                "subject_token": warm.id_token,
                "subject_token_type": ID_TOKEN_TYPE,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": signer.assertion(org_token),
            }
            for _ in range(count)
        ]
        id_jags = [token_exchange(sb.url, signer, warm.id_token).json()["access_token"] for _ in range(count)]
        bearer_forms = [
            {"grant_type": JWT_BEARER, "assertion": j, **signer.auth(custom_token)} for j in id_jags
        ]
        api_headers = {"Authorization": "Bearer " + warm.access_token}

        def run(forms: list[dict], url: str) -> list[float]:
            pending = iter(forms)

            def one() -> None:
                answer = session.post(url, data=next(pending), timeout=30)
                assert answer.status_code == 200, answer.text

            return timed(one, len(forms))

        def api_call() -> None:
            answer = session.get(sb.url + "/todo-api/todos", headers=api_headers, timeout=30)
            assert answer.status_code == 200, answer.text

        results = {
            "Sign-in code exchange (authorization_code)": run(code_forms, org_token),
            "Token exchange (ID token -> ID-JAG)": run(exchange_forms, org_token),
            "JWT bearer (ID-JAG -> access token)": run(bearer_forms, custom_token),
            "API call (GET /todo-api/todos)": timed(api_call, count),
        }

        # The floor: the same verifications and signatures, keys built once (joserfc, as the sandbox).
        assertion = exchange_forms[0]["client_assertion"]
        org_public = import_key(keys["org"].as_dict(private=False))
        id_token_claims = jwt.decode(warm.id_token, org_public, algorithms=["RS256"]).claims
        default_public = import_key(keys["default"].as_dict(private=False))

        def verify(token: str, key: Any) -> None:
            jws.deserialize_compact(token, key, algorithms=["RS256"])

        def sign(key: RSAKey, claims: dict) -> None:
            jwt.encode({"alg": "RS256", "kid": "k"}, dict(claims), key, algorithms=["RS256"])

        floors = {
            "Sign-in code exchange (authorization_code)": lambda: (
                verify(assertion, agent_public),
                sign(keys["org"], id_token_claims),
                sign(keys["org"], id_token_claims),
            ),
            "Token exchange (ID token -> ID-JAG)": lambda: (
                verify(assertion, agent_public),
                verify(warm.id_token, org_public),
                sign(keys["org"], id_token_claims),
            ),
            "JWT bearer (ID-JAG -> access token)": lambda: (
                verify(assertion, agent_public),
                verify(id_jags[0], org_public),
                sign(keys["default"], id_token_claims),
            ),
            "API call (GET /todo-api/todos)": lambda: verify(warm.access_token, default_public),
        }
        crypto = {
            "Sign-in code exchange (authorization_code)": "verify 1 RS256, sign 2 RS256",
            "Token exchange (ID token -> ID-JAG)": "verify 2 RS256, sign 1 RS256",
            "JWT bearer (ID-JAG -> access token)": "verify 2 RS256, sign 1 RS256",
            "API call (GET /todo-api/todos)": "verify 1 RS256",
        }
        # A second floor: the HTTP round trip of a trivial GET (the org JWKS) on the same connection.
        http_floor = median(timed(lambda: session.get(sb.url + "/oauth2/v1/keys", timeout=30), count))
        rows = []
        for name, durations in results.items():
            floor = median(timed(floors[name], count))
            rows.append(
                [
                    name,
                    ms(median(durations)),
                    ms(percentile(durations, 0.95)),
                    crypto[name],
                    ms(floor),
                    f"{median(durations) / floor:.1f}x",
                    ms(http_floor),
                    f"{median(durations) / (floor + http_floor):.1f}x",
                ]
            )
        session.close()
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint (default 300)")
    args = parser.parse_args(argv)
    print("## Per-endpoint latency against the cryptography floor\n")
    print(machine())
    started = time.monotonic()
    rows = measure(args.requests)
    print(
        f"\n{args.requests} requests per endpoint, one keep-alive connection, sandbox in its own process:\n"
    )
    headers = ["Endpoint", "median ms", "p95 ms", "crypto it needs", "crypto floor ms", "ratio"]
    print(table([*headers, "HTTP floor ms", "ratio to both"], rows))
    print(
        "\nCrypto floor: the same JWTs verified and signed with joserfc in this process, keys built once."
        "\nHTTP floor: a GET of the org JWKS on the same keep-alive connection (waitress, Flask, requests)."
    )
    print(f"\n({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
