"""Notebook 05, break it on purpose: the cases, what each must answer, and a bench to run them.

- Okta's OAuth 2.0 error catalog (status, `error`, `error_description`, internal code), as the sandbox
  answers; RFC 6749 §5.2 (token errors), RFC 6750 §3.1 (API errors)
- RFC 7523 §3 and Okta "Build a self-signed JWT" (client assertions), RFC 8693 §2.1 and ID-JAG -04 §4.3
  (the token exchange), RFC 7523 §2.1 and ID-JAG -04 §4.4 (the JWT bearer grant)

Each case changes one thing in a request that otherwise works: its notebook cell writes the change
with the bench's primitives (`bench.exchange_form(audience=...)`, `bench.send_exchange(form)`), and
`bench.report(key, attempt)` shows the same things in the same order: what changed, the exact response
(status, `error`, `error_description`), the server's System Log event (`helpers.teaching.system_log`),
the cause in one sentence, the fix, and the expected answer beside the received one (a `Checklist`). It
raises `CaseDriftError` when the status, `error` or `error_description` differ from what the case
expects (or, against the sandbox, when no event carries the expected reason), so a notebook run under
nbval, or a test, fails when behaviour drifts. `bench.run(key)` sends the same request from the table.
Cases that need the sandbox's cooperation (another client's sign-in, an ID token issued expired, the
demo API, a second custom server) are marked sandbox-only: against Okta they say so and send nothing.

`CASES` is the one source of the notebook, the summary table (`summary()`, `summary_markdown()`) and
the troubleshooting page's table (a test keeps docs/troubleshooting.md in step).
"""

from .cases import CASES, Workbench, index, summary, summary_markdown, summary_rows
from .workbench import (
    Attempt,
    Case,
    CaseBench,
    CaseDriftError,
    CaseReport,
    Expected,
    FieldChange,
    Form,
    Index,
    Summary,
    numbered,
)

__all__ = [
    "Attempt",
    "CASES",
    "Case",
    "CaseBench",
    "CaseDriftError",
    "CaseReport",
    "Expected",
    "FieldChange",
    "Form",
    "Index",
    "Summary",
    "Workbench",
    "index",
    "numbered",
    "summary",
    "summary_markdown",
    "summary_rows",
]
