"""A long fuzz run: 10,000 fuzzed requests over every sandbox endpoint, with the counts of what came back.

The same strategies and oracle as `tests/hardening/test_fuzz.py` (`tests/hardening/fuzz_cases.py`,
`raw_http` included: malformed bytes over a socket, each of which must be answered),
with fresh random seeds instead of the derandomized profile. Any oracle failure (a 5xx, a body that
is not OAuth-shaped, a success for an invalid request or a refusal of a valid one, a redirect to an
unregistered URI) stops the run with hypothesis's shrunk example.

    python -m bench fuzz [--requests 10000]
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time
from collections import Counter

from hypothesis import HealthCheck, given, settings

from bench.common import machine, table, use_test_clients

use_test_clients()
from fuzz_cases import ENDPOINTS, STRATEGIES, Fuzzer  # noqa: E402
from sandbox_flows import AGENT, Signer, write_jwks  # noqa: E402

from helpers.core.keys import agent_key_from_private, generate_private_key  # noqa: E402
from sandbox.testing import running_sandbox  # noqa: E402


def run_endpoint(fuzzer: Fuzzer, endpoint: str, examples: int) -> None:
    """Run `examples` hypothesis cases against one endpoint (fresh random seed)."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=STRATEGIES[endpoint])
    def one_case(case) -> None:
        fuzzer.check(endpoint, case)

    one_case()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="fuzzed requests in all (default 10000)")
    args = parser.parse_args(argv)
    per_endpoint = max(1, -(-args.requests // len(ENDPOINTS)))  # rounded up: at least --requests in all
    print("## A long fuzz run\n")
    print(machine())
    agent = agent_key_from_private(generate_private_key("RS256"))
    jwks = write_jwks(pathlib.Path(tempfile.mkdtemp(prefix="bench-fuzz-")) / "agent.jwks.json", agent)
    started = time.monotonic()
    with running_sandbox(overrides={"clients": {AGENT: {"jwks_file": str(jwks)}}}) as sb:
        fuzzer = Fuzzer(sb.url, Signer(agent), api_token=sb.api_token)
        for endpoint in ENDPOINTS:
            run_endpoint(fuzzer, endpoint, per_endpoint)
        unexpected = sb.sandbox.unexpected_errors
    elapsed = time.monotonic() - started
    by_endpoint: dict[str, Counter] = {e: Counter() for e in ENDPOINTS}
    for (endpoint, status, error), count in fuzzer.counts.items():
        by_endpoint[endpoint][f"{status} {error}" if error != "-" else str(status)] += count
    rows = []
    for endpoint, counts in by_endpoint.items():
        shown = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
        rows.append([endpoint, sum(counts.values()), shown])
    total = sum(fuzzer.counts.values())
    # RFC 9112 §6.1: a transfer coding the server does not implement SHOULD be a 501 (raw_http only).
    counts = fuzzer.counts.items()
    not_implemented = sum(n for (e, status, _), n in counts if e == "raw_http" and status == 501)
    five_xx = sum(n for (_, status, _), n in counts if status >= 500) - not_implemented
    print(
        f"\n{total} fuzzed requests in {elapsed:.0f} s ({total / elapsed:.0f}/s, plus the valid single-use "
        f"codes, ID-JAGs and assertions they needed); 5xx answers: {five_xx} (besides {not_implemented} "
        "501s for a transfer coding the server does not implement, RFC 9112 §6.1); raw requests closed "
        f"without an answer: 0 (an oracle failure); requests that reached the sandbox's catch-all handler: "
        f"{unexpected}; oracle failures: 0 (the run stops at the first).\n"
    )
    print(table(["Endpoint", "requests", "answers (status error: count)"], rows))
    return 0 if five_xx == 0 and unexpected == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
