"""What every benchmark shares: the machine it ran on, percentiles, tables, a sandbox in its own process."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = (
    "cryptography",
    "joserfc",
    "Authlib",
    "python-jose",
    "Flask",
    "waitress",
    "requests",
    "hypothesis",
)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One paragraph naming the machine, Python, key library versions and the load when it started."""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; load average {load}\n" + "Libraries: " + ", ".join(versions)
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0.95 for p95) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Run `action` `repeat` times; return each duration in milliseconds."""
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (what the README section shows)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def ms(value: float) -> str:
    return f"{value:.2f}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SandboxProcess:
    """`python -m sandbox serve` in its own process, with a throwaway home (agent key, data folder)."""

    url: str
    home: Path
    process: subprocess.Popen
    agent: object  # helpers.core.keys.AgentKey

    @property
    def data_dir(self) -> Path:
        return self.home / ".sandbox"


@contextmanager
def sandbox_process(overrides_toml: str = "") -> Iterator[SandboxProcess]:
    """Start the sandbox as people run it (a separate process, waitress), on a free port; stop it after."""
    from helpers.core.keys import ensure_agent_key
    from sandbox.config import DEFAULT_CONFIG_PATH

    home = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    agent, _ = ensure_agent_key(home / ".keys" / "agent.pem", home / ".keys" / "agent.jwks.json")
    config = home / "sandbox.toml"
    config.write_text(
        DEFAULT_CONFIG_PATH.read_text(encoding="utf-8") + "\n" + overrides_toml, encoding="utf-8"
    )
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(home / ".sandbox"),
        "--base-dir",
        str(home),
        "--config",
        str(config),
    ]
    log = (home / "sandbox.out").open("wb")
    # Our own interpreter and module, from a fixed argument list: no shell.
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((home / "sandbox.out").read_text()[-2000:])
            try:
                if requests.get(url + "/.well-known/openid-configuration", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start within 60 s")
            time.sleep(0.05)
        yield SandboxProcess(url, home, process, agent)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def use_test_clients() -> None:
    """Make the sandbox tests' independent OAuth client importable (tests/sandbox/sandbox_flows.py)."""
    for folder in (ROOT / "tests" / "sandbox", ROOT / "tests" / "hardening"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
