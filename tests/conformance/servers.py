"""Real servers for the conformance tests: nginx over Debian's HTML documentation, and httpbin.

Each runs as a child process on a loopback port, with every file it writes in a temporary
directory, so the tests need root only to have installed the packages, and never touch the
machine's own nginx configuration or logs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

INSTALL_HINT = "run scripts/install-system-packages (as root) first"
LOOPBACK = "127.0.0.1"
# Generous: a loaded two-core CI machine may take seconds to start a process.
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# A port picked free may be taken by someone else before the server binds it: try a few times.
START_ATTEMPTS = 3
Served = TypeVar("Served")  # what a running server is known by: an origin, its ports


class MissingTool(Exception):
    """A system package the conformance tests need is not installed."""


@dataclass(frozen=True, slots=True)
class DocSet:
    """A tree of real HTML documentation from a Debian package, and the generator that made it."""

    name: str
    package: str
    generator: str
    root: Path

    def require(self) -> None:
        """Fail, saying how to fix it, if the package's HTML tree is not on this machine."""
        if not (self.root / "index.html").is_file():
            raise MissingTool(
                f"{self.root}/index.html not found (Debian package {self.package}): {INSTALL_HINT}"
            )


DOC_SETS = (
    DocSet(
        "requests", "python-requests-doc", "Sphinx", Path("/usr/share/doc/python-requests-doc/html")
    ),
    DocSet("diffutils", "diffutils-doc", "texinfo", Path("/usr/share/doc/diffutils")),
    DocSet(
        "docbook-xsl",
        "docbook-xsl-doc-html",
        "DocBook XSL",
        Path("/usr/share/doc/docbook-xsl-doc-html/doc"),
    ),
)


def require_program(name: str) -> str:
    """Return the path of an installed program, or fail saying how to install it."""
    for directory in ("", "/usr/sbin/", "/usr/local/sbin/", "/sbin/"):
        found = shutil.which(directory + name) if directory else shutil.which(name)
        if found:
            return found
    raise MissingTool(f"`{name}` not found: {INSTALL_HINT}")


def free_ports(count: int) -> list[int]:
    """Return `count` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def accepts(port: int) -> bool:
    """Tell whether something accepts TCP connections on the loopback port."""
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1.0):
        return True
    return False


def wait_until_listening(process: subprocess.Popen[bytes], ports: Sequence[int], log: Path) -> None:
    """Return once every port accepts connections; fail with the server's log if it exits or
    does not get there in READY_TIMEOUT_S."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"server not listening on {waiting} after {READY_TIMEOUT_S}s: {_tail(log)}"
            )
        if accepts(waiting[0]):
            waiting.pop(0)
        else:
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server child: SIGTERM, then SIGKILL if it lingers; always reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)


def _tail(log: Path, lines: int = 20) -> str:
    """The last lines of a server's log, to say why it failed."""
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# --- nginx ---------------------------------------------------------------------------------

# One line per request in the access log, tab-separated: what the server itself saw and sent.
ACCESS_LOG_FORMAT = (
    "$server_port\\t$status\\t$request_method\\t$request_uri\\t$sent_http_content_type\\t"
    "$sent_http_content_encoding\\t$http_user_agent"
)
# Temp-path directives of modules an nginx build may leave out: written only for modules present.
_TEMP_PATHS = {
    "client_body_temp_path": None,
    "proxy_temp_path": "http_proxy",
    "fastcgi_temp_path": "http_fastcgi",
    "uwsgi_temp_path": "http_uwsgi",
    "scgi_temp_path": "http_scgi",
}


@dataclass(frozen=True, slots=True)
class AccessLogLine:
    """One request as nginx logged it."""

    port: int
    status: int
    method: str
    uri: str
    content_type: str
    content_encoding: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class Nginx:
    """A running nginx: one plain and one gzip server per documentation set."""

    plain: dict[str, int]
    gzip: dict[str, int]
    access_log: Path

    def origin(self, doc_set: str, gzip: bool = False) -> str:
        """Return the origin (scheme, host, port) serving `doc_set`."""
        port = (self.gzip if gzip else self.plain)[doc_set]
        return f"http://{LOOPBACK}:{port}"

    def requests(
        self, doc_set: str, gzip: bool = False, user_agent: str = ""
    ) -> list[AccessLogLine]:
        """Return the requests the server of `doc_set` logged whose user agent contains
        `user_agent`, in order."""
        port = (self.gzip if gzip else self.plain)[doc_set]
        lines = [_parse_access_line(line) for line in self.access_log.read_text().splitlines()]
        return [line for line in lines if line.port == port and user_agent in line.user_agent]


def _parse_access_line(line: str) -> AccessLogLine:
    """Read one line of ACCESS_LOG_FORMAT ("-" stands for an empty value)."""
    port, status, method, uri, content_type, encoding, agent = line.split("\t")
    return AccessLogLine(
        int(port),
        int(status),
        method,
        uri,
        "" if content_type == "-" else content_type,
        "" if encoding == "-" else encoding,
        agent,
    )


def nginx_config(workdir: Path, plain: dict[str, int], gzip: dict[str, int], nginx: str) -> str:
    """Return an nginx.conf that serves each documentation set plainly on `plain[name]` and
    gzip-compressed on `gzip[name]`, keeping its pid, logs and temp files in `workdir`."""
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=True).stderr
    temp_paths = "\n".join(
        f"    {directive} {workdir / directive};"
        for directive, module in _TEMP_PATHS.items()
        if module is None or f"--without-{module}_module" not in built
    )
    mime_types = Path("/etc/nginx/mime.types")
    if not mime_types.is_file():
        raise MissingTool(f"{mime_types} not found (Debian package nginx-common): {INSTALL_HINT}")
    servers = []
    for doc_set in DOC_SETS:
        for port, compress in ((plain[doc_set.name], False), (gzip[doc_set.name], True)):
            gzip_lines = (
                "        gzip on; gzip_min_length 0; gzip_proxied any;\n"
                "        gzip_types text/plain text/css application/javascript text/xml;\n"
                if compress
                else "        gzip off;\n"
            )
            servers.append(
                f"    server {{\n"
                f"        listen {LOOPBACK}:{port};\n"
                f"        server_name {doc_set.name};\n"
                f"        root {doc_set.root};\n"
                f"{gzip_lines}"
                f"    }}\n"
            )
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    log_format conformance "{ACCESS_LOG_FORMAT}";
    access_log {workdir / "access.log"} conformance;
{temp_paths}
    sendfile on;
    keepalive_timeout 30s;
{"".join(servers)}}}
"""


@contextlib.contextmanager
def serving(
    prepare: Callable[[], tuple[list[str], list[int], Path, Served]],
    environment: dict[str, str] | None = None,
) -> Iterator[Served]:
    """Start the server `prepare` describes (its command, the ports it must listen on, its log,
    and what to yield once it does) and stop it at the end of the context.

    A free port is free only until someone binds it: when another process took one first, the
    server is started again on ports `prepare` picks afresh, up to START_ATTEMPTS times.
    """
    for attempt in range(START_ATTEMPTS):
        command, ports, log, served = prepare()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        try:
            wait_until_listening(process, ports, log)
        except RuntimeError:
            stop(process)
            if attempt + 1 < START_ATTEMPTS and "in use" in _tail(log):
                continue
            raise
        try:
            yield served
        finally:
            stop(process)
        return


@contextlib.contextmanager
def running_nginx(workdir: Path) -> Iterator[Nginx]:
    """Run nginx over every documentation set for the life of the context."""
    nginx = require_program("nginx")
    for doc_set in DOC_SETS:
        doc_set.require()

    def prepare() -> tuple[list[str], list[int], Path, Nginx]:
        ports = free_ports(2 * len(DOC_SETS))
        names = [doc_set.name for doc_set in DOC_SETS]
        plain = dict(zip(names, ports[: len(names)], strict=True))
        gzip = dict(zip(names, ports[len(names) :], strict=True))
        config = workdir / "nginx.conf"
        config.write_text(nginx_config(workdir, plain, gzip, nginx))
        log = workdir / "error.log"
        command = [nginx, "-p", str(workdir), "-c", str(config), "-e", str(log)]
        return command, ports, log, Nginx(plain, gzip, workdir / "access.log")

    with serving(prepare) as server:
        yield server


# --- httpbin --------------------------------------------------------------------------------


@contextlib.contextmanager
def running_httpbin(workdir: Path) -> Iterator[str]:
    """Run httpbin under gunicorn, the WSGI server it is deployed with, and yield its origin."""
    for module in ("httpbin", "gunicorn"):
        if importlib.util.find_spec(module) is None:
            raise MissingTool(f"Python package {module} is not installed: install the dev extras")
    log = workdir / "gunicorn.log"

    def prepare() -> tuple[list[str], list[int], Path, str]:
        (port,) = free_ports(1)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{LOOPBACK}:{port}",
            # Threads, so that a slow /delay or /drip does not hold up the other seeds.
            "--worker-class",
            "gthread",
            "--threads",
            "16",
            "--workers",
            "1",
            "--log-file",
            str(log),
            "httpbin:app",
        ]
        return command, [port], log, f"http://{LOOPBACK}:{port}"

    # HOME in the work directory: gunicorn puts its control socket under ~/.gunicorn.
    with serving(prepare, {**os.environ, "HOME": str(workdir)}) as origin:
        yield origin
