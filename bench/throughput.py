"""Throughput of full flows with 1, 4, 16 and 64 concurrent clients: flows per second, errors, p95.

A flow is what one reader's notebooks do: the authorize request and the sign-in form, the code for
tokens, the token exchange, the JWT bearer grant and one API call (6 HTTP requests, 3 client
assertions, 4 tokens issued). Each client is a thread with its own keep-alive session; the sandbox
runs in its own process. The floor is the same flow's cryptography alone, in one thread (verify 6
RS256, sign 7 RS256 on the server side; sign 3 client assertions on the client side): the most flows
per second one core could do if HTTP, parsing and Python cost nothing.

    python -m bench throughput [--seconds 5] [--clients 1 4 16 64]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from joserfc import jws, jwt
from joserfc.jwk import import_key

from bench.common import machine, median, percentile, sandbox_process, table, timed, use_test_clients

use_test_clients()
from sandbox_flows import (  # noqa: E402
    ALICE,
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER,
    TOKEN_EXCHANGE,
    Signer,
    authorize_params,
    jose_key,
    submit_sign_in,
)


def one_flow(session: requests.Session, org: str, signer: Signer) -> None:
    """Run steps 1 to 4 on `session`; raise on any unexpected answer."""
    params, verifier = authorize_params()
    page = session.get(org + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=60)
    assert page.status_code == 200, page.status_code
    answer = submit_sign_in(session, page.url, page.text, *ALICE)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token_url = org + "/oauth2/v1/token"
    step1 = session.post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
            **signer.auth(token_url),
        },
        timeout=60,
    )
    assert step1.status_code == 200, step1.text
    step2 = session.post(
        token_url,
        data={
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": ID_JAG_TYPE,
            "audience": org + "/oauth2/default",
            "scope": "todo.read todo.write",
            "subject_token": step1.json()["id_token"],
            "subject_token_type": ID_TOKEN_TYPE,
            **signer.auth(token_url),
        },
        timeout=60,
    )
    assert step2.status_code == 200, step2.text
    custom = org + "/oauth2/default/v1/token"
    step3 = session.post(
        custom,
        data={"grant_type": JWT_BEARER, "assertion": step2.json()["access_token"], **signer.auth(custom)},
        timeout=60,
    )
    assert step3.status_code == 200, step3.text
    api = session.get(
        org + "/todo-api/todos",
        headers={"Authorization": "Bearer " + step3.json()["access_token"]},
        timeout=60,
    )
    assert api.status_code == 200, api.text


def run_level(org: str, signer: Signer, clients: int, seconds: float) -> tuple[int, int, list[float], float]:
    """Run `clients` threads doing flows for `seconds`; return (flows, errors, flow latencies ms, elapsed)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client() -> None:
        session = requests.Session()
        session.trust_env = False  # no proxy lookup in os.environ per request (about 1 ms of client time)
        start.wait()
        while time.monotonic() < deadline[0]:
            began = time.perf_counter()
            try:
                one_flow(session, org, signer)
                with lock:
                    latencies.append((time.perf_counter() - began) * 1000)
            except (requests.RequestException, AssertionError, KeyError):
                with lock:
                    errors[0] += 1
        session.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    return len(latencies), errors[0], latencies, time.monotonic() - began


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def crypto_floor(signer: Signer, count: int = 30) -> float:
    """Milliseconds of one flow's cryptography alone (keys built once, one thread)."""
    server = jose_key(signer.agent).__class__.generate_key(2048, private=True)
    server_public = import_key(server.as_dict(private=False))
    agent_public = import_key(dict(signer.agent.public_jwk))
    claims = {"iss": "x", "sub": "y", "aud": "z", "iat": 1, "exp": 2, "jti": str(uuid.uuid4())}
    token = jwt.encode({"alg": "RS256"}, claims, server, algorithms=["RS256"])
    assertion = signer.assertion("http://127.0.0.1/oauth2/v1/token")

    def flow_crypto() -> None:
        for _ in range(3):  # client side: three client assertions
            signer.assertion("http://127.0.0.1/oauth2/v1/token")
        for _ in range(3):  # server side: each assertion verified
            jws.deserialize_compact(assertion, agent_public, algorithms=[signer.agent.alg])
        for _ in range(3):  # ID token and ID-JAG verified, access token verified at the API
            jws.deserialize_compact(token, server_public, algorithms=["RS256"])
        for _ in range(4):  # ID token, org access token, ID-JAG, access token signed
            jwt.encode({"alg": "RS256"}, claims, server, algorithms=["RS256"])

    return median(timed(flow_crypto, count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per level (default 5)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    args = parser.parse_args(argv)
    print("## Throughput of full flows\n")
    print(machine())
    rows = []
    with sandbox_process() as sb:
        signer = Signer(sb.agent)
        run_level(sb.url, signer, 2, 1.0)  # warm up
        floor_ms = crypto_floor(signer)
        for clients in args.clients:
            server_before, client_before = cpu_seconds(sb.process.pid), time.process_time()
            flows, errors, latencies, elapsed = run_level(sb.url, signer, clients, args.seconds)
            server_cpu = (cpu_seconds(sb.process.pid) - server_before) * 1000 / max(flows, 1)
            client_cpu = (time.process_time() - client_before) * 1000 / max(flows, 1)
            rows.append(
                [
                    clients,
                    flows,
                    f"{flows / elapsed:.1f}",
                    errors,
                    f"{median(latencies):.0f}",
                    f"{percentile(latencies, 0.95):.0f}",
                    f"{server_cpu:.1f}",
                    f"{client_cpu:.1f}",
                ]
            )
    print(
        f"\n{args.seconds:.0f} s per level; client threads and the sandbox process share the machine's cores."
        " "
        f"Floor: one flow's cryptography alone takes {floor_ms:.1f} ms in one thread, "
        f"so at most {1000 / floor_ms:.0f} flows/s per core.\n"
    )
    headers = ["clients", "flows", "flows/s", "errors", "median flow ms", "p95 flow ms"]
    print(table([*headers, "sandbox CPU ms/flow", "client CPU ms/flow"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
