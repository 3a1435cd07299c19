"""A training room on one machine: what one person costs, and how many people's full flows it sustains.

Each person in a room (deploy/jupyterhub) has a Jupyter server, a kernel per open notebook and their
own sandbox process, started by helpers.sandbox_client.local_sandbox on its own port. This measures,
with the kit's own code:

1. One person: the memory (RSS, and PSS: shared pages divided among the processes sharing them, what
   adds up across people) of an idle Jupyter server, a kernel that has run notebooks 00-04 headless,
   and the sandbox after it; and the CPU that person's "Run All" of notebooks 00-04 costs (five kernel
   starts, the cells, the sandbox's side).
2. N people at once: N sandbox processes, each with its own data folder and agent key, and N client
   processes (one per person, as kernels are), each running full flows back to back with the helpers
   (`helpers.flow`: sign-in page and form, code for tokens, token exchange, JWT bearer grant, API call,
   every check, the request log and session file written): flows per second, latency, CPU per flow.

From these it prints how many people a machine of a given size holds: by memory (people per GiB), and
by CPU (how long a room waits when everyone clicks Run All at once; the flow capacity).

    python -m bench room [--users 1 2 4 8 16 32] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat

from bench.common import ROOT, free_port, machine, median, percentile, table

NOTEBOOKS = ["00_configure", "01_user_sign_in", "02_token_exchange_id_jag", "03_jwt_bearer_access_token",
             "04_call_the_api"]  # fmt: skip
MIB = 1024 * 1024


# --- measuring processes ----------------------------------------------------------------------------------
def memory(pid: int) -> tuple[float, float]:
    """Return (RSS, PSS) of a process in MiB (Linux: /proc/<pid>/smaps_rollup)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1]) * 1024 / MIB
    return values["Rss:"], values["Pss:"]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


# --- a person's kit folder and sandbox, as the room gives them --------------------------------------------
def person_environ(home: Path) -> dict[str, str]:
    """The variables a room's spawner sets for one person (own ports), headless for the bench."""
    port = free_port()
    return {
        "KIT_HOME": str(home),
        "KIT_ENV_FILE": str(home / ".env"),
        "KIT_STATE_DIR": str(home / ".kit"),
        "OKTA_ORG_URL": f"http://127.0.0.1:{port}",
        "REDIRECT_URI": f"http://127.0.0.1:{free_port()}/callback",
        "API_URL": f"http://127.0.0.1:{port}/todo-api/todos",
        "KIT_HEADLESS": "true",
        "KIT_SANDBOX": "own",
        "BROWSER": "true",
    }


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def new_person(folder: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A kit folder like the one kit_singleuser.py makes: notebooks, `.env` from `.env.example`."""
    home = folder / name
    shutil.copytree(ROOT / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_*"))
    shutil.copyfile(ROOT / ".env.example", home / ".env.example")
    shutil.copyfile(ROOT / ".env.example", home / ".env")
    os.chmod(home / ".env", 0o600)
    return home, person_environ(home)


def start_person_sandbox(environ: dict[str, str]) -> int:
    """Start the person's sandbox with the helpers (as their first notebook does); return its pid."""
    from helpers.core.config import load_settings
    from helpers.sandbox_client.local_sandbox import data_dir_for, ensure_local_sandbox

    with environment(environ):
        settings = load_settings()
        ensure_local_sandbox(settings, log=lambda line: None)
        return json.loads((data_dir_for(settings) / "sandbox.pid").read_text())["pid"]


def stop_person_sandbox(environ: dict[str, str]) -> None:
    from helpers.core.config import load_settings
    from helpers.sandbox_client.local_sandbox import stop_local_sandbox

    with environment(environ):
        stop_local_sandbox(load_settings())


# --- 1. one person -----------------------------------------------------------------------------------
def idle_jupyter_server(home: Path, environ: dict[str, str]) -> tuple[float, float]:
    """Start `jupyter server` on the kit folder, wait until it answers, return its (RSS, PSS) in MiB."""
    import requests

    runtime = home / ".runtime"
    token = secrets.token_hex(16)
    env = {**os.environ, **environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    server = subprocess.Popen(  # noqa: S603 - our interpreter, a fixed argument list
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
         "--ServerApp.port=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = runtime / f"jpserver-{server.pid}.json"
            if info.is_file():
                port = json.loads(info.read_text()).get("port")
                try:
                    answer = requests.get(
                        f"http://127.0.0.1:{port}/api/status",
                        headers={"Authorization": f"token {token}"},
                        timeout=2,
                    )
                    if answer.status_code == 200:
                        time.sleep(1.0)
                        return memory(server.pid)
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        raise RuntimeError("jupyter server did not answer within 60 s")
    finally:
        server.terminate()
        server.wait(timeout=20)


def run_notebooks_in_kernels(home: Path, environ: dict[str, str]) -> dict[str, float]:
    """Run notebooks 00-04 headless, each in its own kernel (as a person's tabs do); return figures."""
    from jupyter_client import KernelManager

    figures = {"start cpu": 0.0, "cells cpu": 0.0, "seconds": 0.0}
    began = time.monotonic()
    for index, name in enumerate(NOTEBOOKS):
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(
            env={**os.environ, **environ},
            cwd=str(home / "notebooks"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            pid = manager.provisioner.process.pid
            started = cpu_seconds(pid)
            figures["start cpu"] += started
            notebook = nbformat.read(home / "notebooks" / f"{name}.ipynb", as_version=4)
            for cell in notebook.cells:
                if cell.cell_type == "code":
                    reply = client.execute_interactive(cell.source, timeout=120, output_hook=lambda msg: None)
                    if reply["content"]["status"] != "ok":
                        raise RuntimeError(f"{name}: a cell failed: {reply['content'].get('evalue')}")
            figures["cells cpu"] += cpu_seconds(pid) - started
            if index == len(NOTEBOOKS) - 1:
                figures["kernel rss"], figures["kernel pss"] = memory(pid)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    figures["seconds"] = time.monotonic() - began
    return figures


def one_person(folder: Path) -> dict[str, float]:
    home, environ = new_person(folder, "person-0")
    sandbox = start_person_sandbox(environ)
    try:
        figures = {"sandbox start rss": memory(sandbox)[0]}
        sandbox_cpu = cpu_seconds(sandbox)
        figures.update(run_notebooks_in_kernels(home, environ))
        figures["sandbox cpu"] = cpu_seconds(sandbox) - sandbox_cpu
        figures["sandbox rss"], figures["sandbox pss"] = memory(sandbox)
        figures["server rss"], figures["server pss"] = idle_jupyter_server(home, environ)
    finally:
        stop_person_sandbox(environ)
    return figures


# --- 2. N people's flows -----------------------------------------------------------------------------
def flows_of_one_person(environ: dict[str, str], start_at: float, seconds: float, results: object) -> None:
    """A client process: one person's kit running full flows back to back against their own sandbox."""
    os.environ.update(environ)
    from helpers import flow
    from helpers.core.errors import KitError
    from helpers.kit import Kit

    kit = Kit.open("bench-room")
    latencies, errors = [], 0
    while time.time() < start_at:
        time.sleep(0.01)
    cpu_before = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        try:
            flow.run_sign_in(kit)
            flow.run_token_exchange(kit)
            flow.run_jwt_bearer(kit)
            if flow.run_api_call(kit).status != 200:
                raise KitError("the API did not answer 200")
            latencies.append((time.perf_counter() - began) * 1000)
        except KitError:
            errors += 1
    results.put((latencies, errors, time.process_time() - cpu_before))


def people_at_once(environs: list[dict[str, str]], pids: list[int], seconds: float) -> list[object]:
    """Run one client process per person, all at once for `seconds`; return a table row."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3.0 + 0.3 * len(environs)  # every client process imported and ready
    processes = [
        context.Process(target=flows_of_one_person, args=(environ, start_at, seconds, results))
        for environ in environs
    ]
    for process in processes:
        process.start()
    while time.time() < start_at:
        time.sleep(0.01)
    sandbox_cpu = sum(cpu_seconds(pid) for pid in pids)
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    sandbox_cpu = sum(cpu_seconds(pid) for pid in pids) - sandbox_cpu
    for process in processes:
        process.join(timeout=30)
    latencies = [value for outcome in outcomes for value in outcome[0]]
    flows = len(latencies)
    errors = sum(outcome[1] for outcome in outcomes)
    client_cpu = sum(outcome[2] for outcome in outcomes)
    per_flow = (sandbox_cpu + client_cpu) * 1000 / max(flows, 1)
    per_person = [len(outcome[0]) / seconds for outcome in outcomes]
    return [
        len(environs),
        flows,
        f"{flows / seconds:.1f}",
        f"{min(per_person):.1f}",
        errors,
        f"{median(latencies):.0f}",
        f"{percentile(latencies, 0.95):.0f}",
        f"{sandbox_cpu * 1000 / max(flows, 1):.1f}",
        f"{client_cpu * 1000 / max(flows, 1):.1f}",
        f"{per_flow:.1f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per level (default 8)")
    args = parser.parse_args(argv)
    print("## A training room on one machine\n")
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="bench-room-"))
    environs: list[dict[str, str]] = []
    try:
        person = one_person(folder)
        most = max(args.users)
        pids, sandbox_rss = [], []
        started = time.monotonic()
        for index in range(most):
            _, environ = new_person(folder, f"person-{index + 1}")
            environs.append(environ)
            pids.append(start_person_sandbox(environ))
        start_each = (time.monotonic() - started) / most
        sandbox_rss = [memory(pid) for pid in pids]
        rows = [people_at_once(environs[:users], pids[:users], args.seconds) for users in args.users]
        sandbox_pss_all = sum(pss for _, pss in sandbox_rss)
    finally:
        for environ in environs:
            stop_person_sandbox(environ)
        shutil.rmtree(folder, ignore_errors=True)
    report(person, rows, args, start_each, sandbox_pss_all / len(pids))
    return 0


def report(person: dict[str, float], rows: list[list[object]], args: argparse.Namespace,
           start_each: float, sandbox_pss_crowd: float) -> None:  # fmt: skip
    """Print the tables and what they mean for a room."""
    print("\n### One person\n")
    kernels = 2  # a person typically keeps two notebooks' kernels alive; each open notebook adds one
    per_person = person["server pss"] + kernels * person["kernel pss"] + person["sandbox pss"]
    print(
        table(
            ["process", "RSS MiB", "PSS MiB"],
            [
                [
                    "Jupyter server (idle; the single-user server)",
                    f"{person['server rss']:.0f}",
                    f"{person['server pss']:.0f}",
                ],
                [
                    "kernel, after running its notebook (04_call_the_api)",
                    f"{person['kernel rss']:.0f}",
                    f"{person['kernel pss']:.0f}",
                ],
                [
                    "sandbox, after those flows",
                    f"{person['sandbox rss']:.0f}",
                    f"{person['sandbox pss']:.0f}",
                ],
                [f"sandbox, each of {max(args.users)} running at once", "", f"{sandbox_pss_crowd:.0f}"],
                [f"**a person: server + {kernels} kernels + sandbox**", "", f"**{per_person:.0f}**"],
            ],
        )  # fmt: skip
    )
    run_all_cpu = person["start cpu"] + person["cells cpu"] + person["sandbox cpu"]
    print(
        f"\nRun All of notebooks 00-04 (five kernels, one per notebook): {person['seconds']:.1f} s alone; "
        f"CPU {run_all_cpu:.1f} s (kernel starts {person['start cpu']:.1f} s, "
        f"cells {person['cells cpu']:.1f} s, "
        f"sandbox {person['sandbox cpu']:.2f} s). A sandbox starts in {start_each:.1f} s."
    )
    print(f"\n### People at once: full flows with the helpers ({args.seconds:.0f} s per level)\n")
    headers = ["people", "flows", "flows/s", "slowest person flows/s", "errors", "median flow ms",
               "p95 flow ms", "sandbox CPU ms/flow", "kit CPU ms/flow", "CPU ms/flow"]  # fmt: skip
    print(table(headers, rows))
    cores = os.cpu_count() or 1
    cpu_per_flow = float(rows[-1][-1])
    gib = machine_memory_gib()
    print("\n### How many people\n")
    sizes = [("this machine", gib), ("4 GiB", 4.0), ("8 GiB", 8.0), ("16 GiB", 16.0), ("32 GiB", 32.0)]
    reserve = 1.0  # the system, the hub and its proxy
    print(
        table(
            ["memory", "people (by memory)"],
            [
                [
                    name if name != "this machine" else f"{size:.0f} GiB (this machine)",
                    int((size - reserve) * 1024 // per_person),
                ]
                for name, size in sizes
            ],
        )  # fmt: skip
    )
    flows_capacity = cores * 1000 / cpu_per_flow
    drain = 30 * run_all_cpu / cores
    print(
        f"\nBy memory: about {per_person:.0f} MiB a person ({kernels} kernels; add "
        f"{person['kernel pss']:.0f} MiB per further open notebook), {reserve:.0f} GiB kept for the "
        f"system and the hub. By CPU ({cores} cores): one full flow costs {cpu_per_flow:.0f} ms of CPU "
        f"(sandbox and kit together), so the machine sustains about {flows_capacity:.0f} flows/s; a "
        f"person's Run All of 00-04 costs {run_all_cpu:.1f} s of CPU, mostly kernel starts, so 30 people "
        f"clicking Run All at the same moment wait about {drain:.0f} s for the last to finish."
    )


if __name__ == "__main__":
    raise SystemExit(main())
