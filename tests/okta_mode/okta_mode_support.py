"""What the Okta-mode tests share: the trust variables, and running Python in a clean child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
#: Every variable by which a Python HTTP client is told which CAs to trust.
TRUST_VARS = ("KIT_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def clean_environment(**trust: str | os.PathLike[str]) -> dict[str, str]:
    """Return this process's environment without any trust variable, plus the ones given."""
    environ = {k: v for k, v in os.environ.items() if k not in TRUST_VARS}
    environ.update({name: str(value) for name, value in trust.items()})
    return environ


def run_python(script: str, payload: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """Run `script` (a file beside this one) in a fresh interpreter with JSON in and JSON out."""
    done = subprocess.run(  # noqa: S603 - our interpreter and our script
        [sys.executable, str(HERE / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=dict(environ),
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
