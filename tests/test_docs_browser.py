"""The demo's home page in a real browser: headless Chromium (Debian's
package) loads it, runs its script, and the page shows the protocol trace
of the request that fetched it and the echo of its WebSocket client.

Without a browser the test is skipped with how to install one, except under
``CI=true``: there it installs Debian's ``chromium`` with apt-get, and a
failure to do so fails the test.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = (
    "install Chromium to run it: apt-get install chromium (Debian/Ubuntu); "
    "under CI=true this test installs it itself"
)

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="starts a server process with POSIX signals"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def find_browser() -> Optional[str]:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _install_browser() -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (["update", "-qq"], ["install", "-y", "-qq", "chromium"]):
        result = subprocess.run(
            ["apt-get", *args], capture_output=True, text=True, env=env, timeout=900
        )
        if result.returncode != 0:
            pytest.fail(f"apt-get {' '.join(args)} failed:\n{result.stderr[-2000:]}")


def require_browser() -> str:
    """The browser's path; skip (fail under CI) if there is none."""
    found = find_browser()
    if found is None and in_ci() and shutil.which("apt-get"):
        _install_browser()
        found = find_browser()
    if found is None:
        if in_ci():
            pytest.fail(f"no headless browser under CI=true: {INSTALL_HINT}")
        pytest.skip(f"no headless browser: {INSTALL_HINT}")
    return found


@pytest.fixture
def demo_url(tmp_path: Path) -> Iterator[str]:
    """``tornado-h1 serve`` (the demo) in a process of its own."""
    out = tmp_path / "stdout.txt"
    with open(out, "wb") as stdout, open(tmp_path / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tornado_h1", "serve", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            match = re.search(r"serving on (http://\S+/) ", out.read_text())
            if match:
                yield match.group(1)
                break
            time.sleep(0.05)
        else:
            pytest.fail(
                "the demo did not start: " + (tmp_path / "stderr.txt").read_text()
            )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            proc.kill()
            proc.wait()


def _dump_dom(browser: str, url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (``--dump-dom``)."""
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # as root, Chromium refuses to start otherwise
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _pre(dom: str, element_id: str) -> str:
    match = re.search(rf'<pre id="{element_id}">(.*?)</pre>', dom, re.S)
    assert match is not None, f"no <pre id={element_id}> in the page"
    return html.unescape(match.group(1))


def test_the_demo_page_shows_its_own_trace_in_a_browser(
    demo_url: str, tmp_path: Path
) -> None:
    browser = require_browser()
    dom = _dump_dom(browser, demo_url, tmp_path / "profile")
    trace = _pre(dom, "trace").splitlines()
    assert trace, "the page shows no trace"
    ids = {line.split("] ")[0] for line in trace}
    assert len(ids) == 1, trace  # one connection: the one that fetched it
    text = "\n".join(line.split("] ", 1)[1] for line in trace)
    assert re.search(r"head received: \d+ bytes, GET / HTTP/1.1", text), text
    assert "delegate.headers_received" in text
    assert "body: none (RFC 9112 §6.3 step 7)" in text
    # The in-page WebSocket client connected and got its greeting back.
    log = _pre(dom, "ws-log")
    assert "connected" in log and "echo: hello from this page" in log, log
