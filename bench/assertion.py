"""Building a client assertion with `helpers`, beside python-jose signing the same claims, key built once.

The helpers' `ClientAssertionSigner.assertion_for(url)` builds fresh claims (uuid4 `jti`, times) and
signs them; the floor is `jose.jwt.encode` of equal claims with a `jwk.construct`-ed key object, made
once. A third row shows the python-jose trap: signing from the PEM text each time.

    python -m bench assertion [--count 500]
"""

from __future__ import annotations

import argparse
import time

from cryptography.hazmat.primitives import serialization
from jose import jwk, jwt

from bench.common import machine, median, ms, percentile, table, timed
from helpers.core.client_assertion import ClientAssertionSigner
from helpers.core.keys import agent_key_from_private, generate_private_key

ENDPOINT = "http://127.0.0.1:8400/oauth2/v1/token"


def rows_for(alg: str, count: int) -> list[list[str]]:
    key = agent_key_from_private(generate_private_key(alg))
    signer = ClientAssertionSigner("wlpSandboxAgent00001", key)
    claims = signer.claims_for(ENDPOINT)
    headers = signer.headers()
    floor_key = jwk.construct(key.private_key, alg)
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    helpers_ms = timed(lambda: signer.assertion_for(ENDPOINT), count)
    floor_ms = timed(lambda: jwt.encode(dict(claims), floor_key, algorithm=alg, headers=headers), count)
    pem_ms = timed(
        lambda: jwt.encode(dict(claims), pem, algorithm=alg, headers=headers), max(20, count // 10)
    )
    floor = median(floor_ms)
    return [
        [
            f"helpers ClientAssertionSigner ({alg})",
            ms(median(helpers_ms)),
            ms(percentile(helpers_ms, 0.95)),
            f"{median(helpers_ms) / floor:.2f}x",
        ],
        [
            f"python-jose, key object built once ({alg}): the floor",
            ms(floor),
            ms(percentile(floor_ms, 0.95)),
            "1.00x",
        ],
        [
            f"python-jose from the PEM text each time ({alg})",
            ms(median(pem_ms)),
            ms(percentile(pem_ms, 0.95)),
            f"{median(pem_ms) / floor:.1f}x",
        ],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="assertions per row (default 500)")
    args = parser.parse_args(argv)
    print("## Building a client assertion\n")
    print(machine())
    started = time.monotonic()
    rows = rows_for("RS256", args.count) + rows_for("ES256", args.count)
    print(f"\n{args.count} assertions per row, one thread:\n")
    print(table(["What", "median ms", "p95 ms", "ratio to floor"], rows))
    print(f"\n({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
