"""A long day in one sandbox: full flows from 16 clients for 30 minutes, the sandbox's memory sampled.

Each client is a thread with its own keep-alive session running full flows back to back (sign-in page
and form, code for tokens, token exchange, JWT bearer grant, one API call: 6 requests, 3 client
assertions with `exp` 5 minutes ahead, one ID-JAG); the sandbox runs in its own process, as people
run it. Every 10 s the sandbox's RSS (/proc/PID/status VmRSS) is sampled. The replay caches fill
while the first assertions are still unexpired, then stay level (entries expire as fast as new ones
come), so RSS should rise and then plateau: the figures say where, and after how long.

Printed: the RSS timeline (one row a minute), the plateau (median RSS over the last third of the
run) and when RSS first came within 2 % of it, the growth over the last third (MiB per hour), the
flows, errors, 5xx and 429 answers. Figures, not pass/fail.

    python -m bench soak [--minutes 30] [--clients 16] [--interval 10]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.common import machine, median, sandbox_process, table, use_test_clients
from bench.throughput import one_flow

use_test_clients()
from sandbox_flows import Signer  # noqa: E402

#: A flow's client assertions live this long (sandbox_flows.Signer), and the sandbox's clock skew.
ASSERTION_SECONDS, SKEW = 300, 60


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    flows: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    #: Seconds into the run of each failed flow.
    error_times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_status(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1


@dataclass
class Sample:
    seconds: float
    rss: float
    flows: int


def run(
    org: str, signer: Signer, pid: int, clients: int, seconds: float, interval: float
) -> tuple[Tally, list[Sample], float]:
    """Run `clients` flow threads for `seconds`, sampling RSS every `interval`; return what was seen."""
    tally = Tally()
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        session.trust_env = False
        session.hooks["response"].append(tally.count_status)
        while not stop.is_set():
            try:
                one_flow(session, org, signer)
                with tally.lock:
                    tally.flows += 1
            except (requests.RequestException, AssertionError, KeyError, ValueError) as exc:
                with tally.lock:
                    first = (str(exc).splitlines() or [""])[0][:90]
                    tally.errors[f"{type(exc).__name__}: {first}"] += 1
                    tally.error_times.append(time.monotonic() - began)
                time.sleep(0.1)  # a refused flow is quick: do not spin
        session.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    began = time.monotonic()
    samples = [Sample(0.0, rss_mib(pid), 0)]
    for thread in threads:
        thread.start()
    next_sample = began + interval
    while True:
        now = time.monotonic()
        if now >= began + seconds:
            break
        time.sleep(max(0.0, min(next_sample, began + seconds) - now))
        if time.monotonic() >= next_sample:
            with tally.lock:
                flows = tally.flows
            samples.append(Sample(time.monotonic() - began, rss_mib(pid), flows))
            next_sample += interval
    stop.set()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - began
    if elapsed - samples[-1].seconds > interval / 2:
        samples.append(Sample(elapsed, rss_mib(pid), tally.flows))
    return tally, samples, elapsed


def plateau(samples: list[Sample]) -> tuple[float, float, float]:
    """(plateau MiB = median of the last third, seconds until RSS first came within 2 % of it,
    growth over the last third in MiB per hour)."""
    last = samples[len(samples) * 2 // 3 :]
    level = median([s.rss for s in last])
    reached = next(s.seconds for s in samples if s.rss >= level * 0.98)
    span = last[-1].seconds - last[0].seconds
    growth = (last[-1].rss - last[0].rss) / span * 3600 if span > 0 else float("nan")
    return level, reached, growth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the flows run (default 30)")
    parser.add_argument("--clients", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between RSS samples")
    args = parser.parse_args(argv)
    print("## A long day: full flows for a while, the sandbox's memory sampled\n")
    print(machine())
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    with sandbox_process() as sb:
        signer = Signer(sb.agent)
        pid = sb.process.pid
        tally, samples, elapsed = run(sb.url, signer, pid, args.clients, args.minutes * 60, args.interval)
    level, reached, growth = plateau(samples)
    rate = tally.flows / elapsed
    five_xx = sum(n for status, n in tally.statuses.items() if status >= 500)
    too_many = tally.statuses.get(429, 0)
    window = ASSERTION_SECONDS + SKEW + 1  # remembered until exp + skew (+1 s)
    print(
        f"\nStarted {started}; {args.clients} clients for {elapsed / 60:.1f} min; RSS sampled every "
        f"{args.interval:.0f} s ({len(samples)} samples).\n"
    )
    rows = []
    per_minute = max(1, round(60 / args.interval))
    shown = samples[::per_minute] + ([samples[-1]] if (len(samples) - 1) % per_minute else [])
    for previous, sample in zip([samples[0], *shown], shown, strict=False):
        span = sample.seconds - previous.seconds
        flows = f"{(sample.flows - previous.flows) / span:.1f}" if span > 0 else "-"
        rows.append([f"{sample.seconds / 60:.1f}", f"{sample.rss:.1f}", flows])
    print(table(["minute", "sandbox RSS MiB", "flows/s since the previous row"], rows))
    print()
    summary = [
        ["flows", tally.flows],
        ["flows/s", f"{rate:.1f}"],
        ["HTTP answers", sum(tally.statuses.values())],
        ["answers by status", ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items()))],
        ["failed flows (errors)", sum(tally.errors.values())],
        ["5xx answers", five_xx],
        ["429 answers (single-use memory full)", too_many],
        ["RSS at start MiB", f"{samples[0].rss:.1f}"],
        ["RSS plateau MiB (median of the last third)", f"{level:.1f}"],
        ["time to reach the plateau (within 2 %)", f"{reached / 60:.1f} min"],
        ["RSS growth over the last third MiB/hour", f"{growth:+.1f}"],
        ["RSS max MiB", f"{max(s.rss for s in samples):.1f}"],
        [
            f"client assertion jtis remembered at the plateau (estimate: 3 a flow x flows/s x {window} s)",
            f"{3 * rate * window:,.0f}",
        ],
    ]
    print(table(["What", "value"], summary))
    if tally.errors:
        times = ", ".join(f"{t:.0f}" for t in tally.error_times[:20])
        print(f"\nErrors (seconds into the run: {times}):\n")
        print(table(["error", "count"], [[k, v] for k, v in tally.errors.most_common(10)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
