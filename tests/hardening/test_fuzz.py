"""Property-based fuzzing of every sandbox endpoint (hypothesis), a few hundred cases in `make test`.

Whatever the parameters: never a 5xx, every refusal OAuth-shaped, a success exactly when the request
is valid, redirects only to the registered URI (the oracle: `fuzz_cases.judge`). The profile is
derandomized, so CI sees the same cases every run; `bench/fuzz.py` runs 10,000 with fresh seeds.
"""

from __future__ import annotations

import pytest
from fuzz_cases import ENDPOINTS, STRATEGIES, Fuzzer
from hypothesis import HealthCheck, given, settings

EXAMPLES_PER_ENDPOINT = 40

PROFILE = settings(
    max_examples=EXAMPLES_PER_ENDPOINT,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def fuzzer(hsb, signer) -> Fuzzer:
    return Fuzzer(hsb.url, signer, api_token=hsb.api_token)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_fuzzed_requests_get_an_oauth_answer_and_a_token_only_when_valid(
    hsb, fuzzer: Fuzzer, endpoint: str
) -> None:
    before = hsb.sandbox.unexpected_errors

    @PROFILE
    @given(case=STRATEGIES[endpoint])
    def one_case(case) -> None:
        fuzzer.check(endpoint, case)

    one_case()
    sent = sum(n for (name, _, _), n in fuzzer.counts.items() if name == endpoint)
    assert sent >= EXAMPLES_PER_ENDPOINT // 2, f"only {sent} cases reached {endpoint}"
    assert hsb.sandbox.unexpected_errors == before
