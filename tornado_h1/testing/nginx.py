"""nginx for tests: find it, install it under CI, run it on loopback.

A test that needs nginx calls `require_nginx`: it returns the binary; if
nginx is missing, the test is skipped with how to install it, except under
``CI=true``, where nginx is installed with ``apt-get`` (Debian's
``nginx-light``, else ``nginx``) and a failure to install fails the test.

`Nginx` runs one nginx in the foreground, as one process (no workers, so
no user switch and no daemon left behind), with everything it writes in a
directory of its own; the caller gives the inside of the ``http`` block::

    port = free_port()
    with running_nginx(f"server {{ listen 127.0.0.1:{port}; ... }}", [port]) as nginx:
        ...
        nginx.connections()  # the connection serial numbers nginx logged

Every request is logged to ``access.log`` in the `LOG_FORMAT` (nginx's
connection serial number and request count on it first), so that a test
can count the connections a client opened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

#: How to install nginx, for the message of a skipped test.
INSTALL_HINT = (
    "install it with: apt-get install nginx-light (Debian/Ubuntu) or "
    "brew install nginx; under CI=true the tests install it themselves"
)

#: Debian's packages, smallest first.
PACKAGES = ("nginx-light", "nginx")

#: Where a package puts the binary when ``PATH`` lacks ``/usr/sbin``.
_SBIN_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/bin/nginx")

#: The access log's format: connection serial number, requests on it so
#: far, the request line and the status.
LOG_FORMAT = '$connection $connection_requests "$request" $status'

#: How long nginx may take to start listening (only a failure waits this).
START_PATIENCE = 30.0


class NginxError(Exception):
    """nginx could not be found, installed or started."""


def in_ci() -> bool:
    """Whether we run under CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").strip().lower() == "true"


def find_nginx() -> Optional[str]:
    """The nginx binary, or None."""
    found = shutil.which("nginx")
    if found:
        return found
    for path in _SBIN_PATHS:
        if os.access(path, os.X_OK):
            return path
    return None


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    # RUNLEVEL=1: the package's scripts do not start an nginx service.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    return subprocess.run(
        ["apt-get", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )


def install_nginx() -> str:
    """Install Debian's nginx with apt-get; return the binary. Raises
    `NginxError` saying why it could not."""
    if shutil.which("apt-get") is None:
        raise NginxError("apt-get is not available to install nginx")
    outputs = []
    for refresh in (False, True):
        if refresh:
            # (A fresh container has no package lists yet.)
            outputs.append(_apt_get("update").stderr.strip())
        for package in PACKAGES:
            done = _apt_get("install", "-y", "--no-install-recommends", package)
            found = find_nginx()
            if done.returncode == 0 and found:
                return found
            outputs.append(f"{package}: {done.stderr.strip()[-500:]}")
    raise NginxError("apt-get could not install nginx: " + " | ".join(outputs))


def require_nginx() -> str:
    """The nginx binary for a pytest test; skips the test if nginx is
    missing, except under ``CI=true``, where it installs nginx, and fails
    the test if it cannot."""
    import pytest

    found = find_nginx()
    if found:
        return found
    if not in_ci():
        pytest.skip(f"nginx is not installed; {INSTALL_HINT}")
    try:
        return install_nginx()
    except NginxError as e:
        pytest.fail(f"CI=true and nginx is missing: {e}", pytrace=False)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(directory: Path, http_block: str) -> str:
    paths = {
        name: directory / name
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    }
    for path in paths.values():
        path.mkdir(exist_ok=True)
    return f"""
daemon off;
master_process off;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    log_format tornado_h1 '{LOG_FORMAT}';
    access_log {directory / "access.log"} tornado_h1;
    client_body_temp_path {paths["client_body"]};
    proxy_temp_path {paths["proxy"]};
    fastcgi_temp_path {paths["fastcgi"]};
    uwsgi_temp_path {paths["uwsgi"]};
    scgi_temp_path {paths["scgi"]};
{http_block}
}}
"""


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class Nginx:
    """One nginx process serving ``http_block`` (the inside of nginx's
    ``http`` block) from ``directory``."""

    def __init__(self, binary: str, directory: Path, http_block: str) -> None:
        self.binary, self.directory = binary, directory
        self.config = directory / "nginx.conf"
        self.config.write_text(_config(directory, http_block))
        self.process: Optional[subprocess.Popen[bytes]] = None

    def start(self, ports: Sequence[int]) -> None:
        """Start nginx and wait until it accepts on every one of ``ports``."""
        command = [self.binary, "-p", str(self.directory), "-c", str(self.config)]
        with open(self.directory / "stderr.log", "wb") as err:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=err, stderr=err
            )
        deadline = time.monotonic() + START_PATIENCE
        waiting = list(ports)
        while waiting:
            if self.process.poll() is not None:
                raise NginxError(f"nginx exited at start: {self.errors()}")
            if time.monotonic() > deadline:
                raise NginxError(f"nginx did not listen on {waiting}: {self.errors()}")
            if _accepts(waiting[0]):
                waiting.pop(0)
            else:
                time.sleep(0.05)

    def errors(self) -> str:
        """The end of what nginx wrote to its error log and stderr."""
        text = ""
        for name in ("stderr.log", "error.log"):
            path = self.directory / name
            if path.exists():
                text += path.read_text(errors="replace")
        return text.strip()[-2000:]

    def log_lines(self) -> list[str]:
        """The access log, a line per request (in `LOG_FORMAT`)."""
        path = self.directory / "access.log"
        if not path.exists():
            return []
        return path.read_text(errors="replace").splitlines()

    def connections(self) -> list[int]:
        """The serial numbers of the connections that carried the logged
        requests, in order of first use."""
        serials = (int(line.split(" ", 1)[0]) for line in self.log_lines())
        return list(dict.fromkeys(serials))

    def stop(self) -> None:
        """Stop nginx (SIGTERM, SIGKILL if it lingers)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_nginx(
    http_block: str,
    ports: Sequence[int],
    binary: Optional[str] = None,
    directory: Optional[Path] = None,
) -> Iterator[Nginx]:
    """An nginx serving ``http_block``, listening on ``ports``, stopped on
    exit. ``binary`` defaults to `require_nginx`'s; ``directory`` to a
    temporary one, removed afterwards."""
    binary = binary or require_nginx()
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        nginx = Nginx(binary, directory, http_block)
        stack.callback(nginx.stop)
        nginx.start(ports)
        yield nginx
