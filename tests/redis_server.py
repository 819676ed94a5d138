"""A real redis-server for the fleet's tests: on a free loopback port, appending to an AOF.

Each test that kills or restarts Redis starts its own; the agreement tests that only need a
broker share one per test process (`shared_broker_url`). Every wait here is bounded.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process with its data directory; killable and restartable."""

    def __init__(
        self, directory: Path, host: str = "127.0.0.1", port: int | None = None, netns: str = ""
    ) -> None:
        self.directory = directory
        self.host = host
        self.port = port or free_port(host)
        self.netns = netns
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> RedisServer:
        if REDIS_SERVER is None:
            pytest.skip("redis-server is not installed (scripts/install-system-packages)")
        command = [
            REDIS_SERVER,
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--protected-mode", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.wait_ready()
        return self

    def wait_ready(self, seconds: float = 30.0) -> None:
        """Wait until the server answers PING with PONG (its AOF loaded)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log()
            if self.ping() == b"+PONG\r\n":
                return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer within {seconds}s: {self.log()}")

    def ping(self) -> bytes:
        command = ["redis-cli", "-h", self.host, "-p", str(self.port), "PING"]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        try:
            reply = subprocess.run(command, capture_output=True, timeout=5).stdout
        except subprocess.TimeoutExpired:
            return b""
        return b"+PONG\r\n" if reply.strip() == b"PONG" else reply

    def kill(self) -> None:
        """SIGKILL: nothing is flushed that the kernel does not already hold."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


_shared: RedisServer | None = None


def shared_broker_url() -> str:
    """Return the URL of a Redis this test process shares between tests (crawl ids differ)."""
    global _shared
    if _shared is None:
        directory = Path(tempfile.mkdtemp(prefix="crawler-redis-"))
        _shared = RedisServer(directory).start()
        atexit.register(_shared.kill)
        atexit.register(shutil.rmtree, directory, True)
    return _shared.url


def strategy_settings(strategy: str) -> dict[str, str]:
    """Return what a crawl with `strategy` needs beside its name: a broker for `broker`."""
    return {"broker": shared_broker_url()} if strategy == "broker" else {}
