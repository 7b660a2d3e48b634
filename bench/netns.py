"""A loopback-only network namespace holding the server and Chromium, for browser tests and
browser benchmarks.

Chromium, even with ``--allow-loopback-in-peer-connection``, prefers the machine's own network
addresses; inside a namespace whose only interface is ``lo`` every byte stays on 127.0.0.1.
The test process itself stays outside (it still reaches PostgreSQL); Playwright drives Chromium
over a pipe, so it needs no network into the namespace. Needs root (``unshare -n``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


class NetnsUnavailable(RuntimeError):
    """What is missing, and the command that fixes it."""


def check_prerequisites() -> None:
    if not CHROMIUM.exists():
        raise NetnsUnavailable(
            "Debian's Chromium is missing: run `apt-get install -y chromium` as root "
            "(`make test` does it when run as root)."
        )
    if os.geteuid() != 0:
        raise NetnsUnavailable(
            "Browser tests run Chromium in a loopback-only network namespace, which needs "
            "root: run `sudo make test`."
        )
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            raise NetnsUnavailable(
                f"`{tool}` is missing: run `apt-get install -y util-linux iproute2`."
            )


@dataclass
class Netns:
    workdir: Path
    holder: subprocess.Popen[str] | None = None
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        check_prerequisites()
        self.holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && echo ready && exec sleep 86400"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            raise NetnsUnavailable("could not create a network namespace (unshare -n failed)")
        wrapper = self.workdir / "chromium-in-netns"
        wrapper.write_text(
            f'#!/bin/sh\nexec nsenter -t {self.holder.pid} -n {CHROMIUM} "$@"\n', encoding="utf-8"
        )
        wrapper.chmod(0o755)
        self.chromium = wrapper

    def spawn(self, args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Run ``python args…`` inside the namespace."""
        assert self.holder is not None
        with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                ["nsenter", "-t", str(self.holder.pid), "-n", sys.executable, *args],
                env={**os.environ, **env},
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        self.children.append(proc)
        return proc

    def wait_http(self, url: str, timeout: float = 60.0, cafile: Path | None = None) -> None:
        """Poll a URL from inside the namespace until it answers (over HTTPS, trusting only
        ``cafile``)."""
        assert self.holder is not None
        deadline = time.monotonic() + timeout
        context = f"ssl.create_default_context(cafile={str(cafile)!r})" if cafile else "None"
        probe = (
            "import ssl, sys, urllib.request\n"
            "try:\n"
            f"    urllib.request.urlopen({url!r}, timeout=2, context={context})\n"
            "except Exception:\n"
            "    sys.exit(1)\n"
        )
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["nsenter", "-t", str(self.holder.pid), "-n", sys.executable, "-c", probe],
                check=False,
                capture_output=True,
            )
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{url} did not answer inside the namespace")

    def stop_child(self, proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc in self.children:
            self.children.remove(proc)

    def close(self) -> None:
        for proc in list(self.children):
            self.stop_child(proc)
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
            if self.holder.stdout is not None:
                self.holder.stdout.close()
            self.holder = None


@dataclass
class Stage:
    """The real server, run as ``diemcau serve`` inside the namespace on a SQLite file."""

    netns: Netns
    data_dir: Path
    port: int = 8080
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    cafile: Path | None = None  # set (with TLS settings in extra_env) to serve HTTPS

    @property
    def url(self) -> str:
        scheme = "https" if self.cafile is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def env(self) -> dict[str, str]:
        return {
            "DIEMCAU_DATA_DIR": str(self.data_dir),
            "DIEMCAU_PORT": str(self.port),
            "DIEMCAU_ICE_HOST_ADDRESSES": '["127.0.0.1"]',
            "DIEMCAU_ICE_ALLOWED_REMOTE": '["127.0.0.1/32"]',
            "DIEMCAU_RECONNECT_GRACE_SECONDS": "20",
            "DIEMCAU_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def start(self) -> None:
        self.proc = self.netns.spawn(["-m", "web.cli", "serve"], self.env(), self.log)
        self.netns.wait_http(f"{self.url}/healthz", cafile=self.cafile)

    def stop(self) -> None:
        if self.proc is not None:
            self.netns.stop_child(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
