"""Run a sandbox in a thread on an ephemeral loopback port, for tests and notebooks' test runs.

    from sandbox.testing import running_sandbox

    with running_sandbox(overrides={"lifetimes": {"id_jag": 5}}) as sb:
        requests.get(sb.url + "/.well-known/openid-configuration")

    with running_sandbox(tls=True) as sb:   # https://127.0.0.1:<port>, certificate from a local test CA
        requests.get(sb.url + "/.well-known/openid-configuration", verify=str(sb.ca_file))

Several instances can run in one process; each has its own keys (in its data folder), caches,
stores and event log.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import SandboxConfig, load_config
from .core import Sandbox
from .serving import ServedSandbox, make_served_sandbox

__all__ = ["RunningSandbox", "running_sandbox", "start_sandbox"]


@dataclass
class RunningSandbox:
    """A sandbox serving in a background thread; `stop()` shuts it down and joins the thread."""

    url: str
    data_dir: Path
    config: SandboxConfig
    served: ServedSandbox = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _owned_dir: bool = field(default=False, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox's state (event log, counters), for assertions in tests."""
        return self.served.sandbox

    @property
    def api_token(self) -> str:
        """The System Log API token (`Authorization: SSWS <token>` on `GET /api/v1/logs`)."""
        return self.served.app.extensions["system_log"].token

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        return self.served.address

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate (PEM) clients trust when the sandbox serves HTTPS; None over plain HTTP."""
        return self.served.tls.ca_file if self.served.tls is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.served.shutdown()
        self._thread.join(timeout)
        if self._thread.is_alive():  # pragma: no cover - a hung request
            raise RuntimeError(f"the sandbox at {self.url} did not stop within {timeout} s")
        if self._owned_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    config: str | Path | Mapping[str, Any] | None = None,
    *,
    data_dir: str | Path | None = None,
    base_dir: str | Path | None = None,
    port: int = 0,
    overrides: Mapping[str, Any] | None = None,
    tls: bool = False,
) -> RunningSandbox:
    """Start a sandbox on 127.0.0.1:`port` (0: a free port) in a daemon thread and return it.

    Args:
        config: a TOML path, a dict, or None for the default configuration.
        data_dir: where signing keys live (default: a temporary folder removed at stop).
        base_dir: what relative paths in the configuration resolve against (default: cwd).
        overrides: deep-merged onto the loaded configuration (a None value deletes a key).
        tls: serve HTTPS (`https://127.0.0.1:<port>`) with a certificate from the data folder's
            local test CA; clients trust `ca_file`.
    """
    loaded = load_config(config, base_dir=base_dir, overrides=overrides)
    owned = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="sandbox-")) if owned else Path(data_dir)
    try:
        served = make_served_sandbox(loaded, host="127.0.0.1", port=port, data_dir=folder, tls=tls)
    except BaseException:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    thread = threading.Thread(target=served.run, name=f"sandbox {served.url}", daemon=True)
    thread.start()
    return RunningSandbox(
        url=served.url, data_dir=folder, config=loaded, served=served, _thread=thread, _owned_dir=owned
    )


@contextmanager
def running_sandbox(
    config: str | Path | Mapping[str, Any] | None = None,
    *,
    data_dir: str | Path | None = None,
    base_dir: str | Path | None = None,
    port: int = 0,
    overrides: Mapping[str, Any] | None = None,
    tls: bool = False,
) -> Iterator[RunningSandbox]:
    """Run a sandbox for the duration of a `with` block (see `start_sandbox`)."""
    sandbox = start_sandbox(
        config, data_dir=data_dir, base_dir=base_dir, port=port, overrides=overrides, tls=tls
    )
    try:
        yield sandbox
    finally:
        sandbox.stop()
