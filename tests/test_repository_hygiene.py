"""What is committed: no secret in notebooks or tracked files; generated files ignored; the commands shown."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\"d\"\s*:\s*\"[A-Za-z0-9_-]{20,}")
#: A whole JWT: header and payload segments, then a signature of real length.
WHOLE_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{40,}")


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in listed.stdout.splitlines() if (ROOT / line).is_file()]


@pytest.mark.parametrize("path", sorted(ROOT.glob("notebooks/*.ipynb")), ids=lambda p: p.name)
def test_a_committed_notebook_holds_no_private_key_and_no_whole_token(path):
    text = path.read_text()
    assert not PRIVATE_KEY.search(text)
    assert not WHOLE_JWT.search(text)


def test_no_tracked_file_holds_a_private_key():
    offenders = [
        str(p.relative_to(ROOT))
        for p in tracked_files()
        if p.suffix not in {".png", ".jpg"} and PRIVATE_KEY.search(p.read_text(errors="replace"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "generated", [".env", ".keys/agent.pem", ".sandbox/keys/org.jwk.json", ".kit/session.json", ".venv/x"]
)
def test_generated_files_are_ignored_by_git(generated):
    result = subprocess.run(["git", "check-ignore", "-q", generated], cwd=ROOT)
    assert result.returncode == 0, f"{generated} is not git-ignored"


def test_the_readme_shows_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    return [link for link in links if not re.match(r"[a-z]+:|#", link)]


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_every_relative_link_of_the_readme_and_docs_reaches_a_file(page: Path) -> None:
    broken = [
        link for link in _relative_links(page) if not (page.parent / link.split("#", 1)[0]).resolve().exists()
    ]
    assert broken == [], f"{page.relative_to(ROOT)} links to missing files: {broken}"


# --- TLS verification is never turned off ------------------------------------------------------------
#: Every way Python's ssl, requests, urllib3, aiohttp, Playwright and Chromium are told to skip TLS checks.
TLS_VERIFICATION_OFF = re.compile(
    r"verify\s*=\s*False|\.verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False"
    r"|_create_unverified_context|verify_ssl\s*=\s*False|\bssl\s*=\s*False|ignore_https_errors"
    r"|ignore-certificate-errors|PYTHONHTTPSVERIFY|NODE_TLS_REJECT_UNAUTHORIZED"
)
#: Where the kit's own code lives (tests may turn it off on purpose, to check that it is refused), and
#: the browser tests: Chromium trusts the HTTPS sandbox's CA through its certificate store, never a flag.
TLS_SCANNED = ("helpers", "sandbox", "tools", "notebooks", "deploy", "bench", "tests/browser")


def project_files(*folders: str) -> list[Path]:
    """Tracked and new (not ignored) files under `folders`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *folders],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [ROOT / line for line in sorted(set(listed.stdout.splitlines())) if (ROOT / line).is_file()]


@pytest.mark.parametrize(
    ("line", "turns_it_off"),
    [
        ("requests.get(url, verify=False)", True),
        ("session.verify = False", True),
        ("context.verify_mode = ssl.CERT_NONE", True),
        ("context.check_hostname = False", True),
        ("ssl._create_unverified_context()", True),
        ("aiohttp.TCPConnector(ssl=False)", True),
        ("browser.new_context(ignore_https_errors=True)", True),
        ("chromium --ignore-certificate-errors", True),
        ("requests.get(url, verify=str(ca_file))", False),
        ("context.verify_mode = ssl.CERT_REQUIRED", False),
        ("context.check_hostname = True", False),
    ],
)
def test_the_tls_scan_recognises_what_turns_verification_off(line, turns_it_off):
    assert bool(TLS_VERIFICATION_OFF.search(line)) is turns_it_off


def test_no_code_path_turns_tls_verification_off():
    files = project_files(*TLS_SCANNED)
    assert any(p.name == "tls.py" for p in files)  # the scan sees the kit's code
    assert any(p.name == "lab_driver.py" for p in files)  # and the browser tests' driver
    offenders = [
        f"{p.relative_to(ROOT)}:{number}: {line.strip()}"
        for p in files
        if p.suffix in {".py", ".ipynb", ".sh", ".js", ".ts", ".toml", ".yaml", ".yml", ".cfg", ".json", ""}
        for number, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if TLS_VERIFICATION_OFF.search(line)
    ]
    assert offenders == []
