"""``pytest --tornado-h1`` (tornado_h1.testing.pytest_plugin).

The sample application in ``examples/sample_app`` has a test suite written
with pytest-tornasync's fixtures. It is run here in a child pytest, as a user
would run it: with ``--tornado-h1`` everything passes and the session header
says tornado_h1 is active; without it, its swap-detecting test fails (and
only that one), and the header says nothing. A generated suite checks when
the swap happens relative to conftest and test-module imports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Optional

import pytest
import tornado

import tornado_h1
from tornado_h1.testing import pytest_plugin

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample_app"
SWAP_TEST = "test_served_by_tornado_h1"
HEADER = re.compile(
    r"^tornado_h1 (?P<ours>\S+): active, in place of tornado\.http1connection "
    r"\(Tornado (?P<tornado>\S+)\)$",
    re.MULTILINE,
)


class Run:
    """A finished child pytest: exit status, output, outcome of each test."""

    def __init__(self, status: int, output: str, outcomes: dict[str, str]) -> None:
        self.status = status
        self.output = output
        self.outcomes = outcomes

    def failed(self) -> list[str]:
        return sorted(name for name, o in self.outcomes.items() if o != "passed")


def run_pytest(cwd: Path, tmp_path: Path, *args: str, **env: str) -> Run:
    junit = tmp_path / f"junit-{len(list(tmp_path.glob('junit-*')))}.xml"
    environ = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    }
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
        + [f"--junitxml={junit}", *args],
        cwd=str(cwd),
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outcomes: dict[str, str] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            kinds = {child.tag for child in case}
            outcome = "passed"
            for tag in ("skipped", "error", "failure"):
                if tag in kinds:
                    outcome = tag
            outcomes[case.attrib["name"]] = outcome
    return Run(proc.returncode, proc.stdout + proc.stderr, outcomes)


def test_registered_as_a_pytest11_entry_point() -> None:
    found = [ep for ep in entry_points(group="pytest11") if ep.name == "tornado_h1"]
    assert [ep.value for ep in found] == ["tornado_h1.testing.pytest_plugin"]
    assert found[0].load() is pytest_plugin


# ---------------------------------------------------------------------------
# The sample application's suite
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("sample")
    return {
        "with": run_pytest(SAMPLE, tmp, "--tornado-h1"),
        "without": run_pytest(SAMPLE, tmp),
    }


def test_sample_suite_passes_with_the_flag(sample_runs: dict[str, Run]) -> None:
    run = sample_runs["with"]
    assert run.status == 0, run.output
    assert run.failed() == [], run.output
    assert len(run.outcomes) >= 8 and SWAP_TEST in run.outcomes


def test_header_names_tornado_h1_and_the_tornado_release(
    sample_runs: dict[str, Run],
) -> None:
    match = HEADER.search(sample_runs["with"].output)
    assert match is not None, sample_runs["with"].output
    assert match["ours"] == tornado_h1.__version__
    assert match["tornado"] == tornado.version
    # It is in the session header, before collection.
    output = sample_runs["with"].output
    assert output.index(match.group(0)) < output.index("collected")


def test_without_the_flag_only_the_swap_detector_fails(
    sample_runs: dict[str, Run],
) -> None:
    run = sample_runs["without"]
    assert run.status == 1, run.output
    assert run.failed() == [SWAP_TEST], run.output
    assert "tornado_h1 is not installed: run pytest with --tornado-h1" in run.output
    # The same tests ran both ways.
    assert set(run.outcomes) == set(sample_runs["with"].outcomes)


def test_without_the_flag_the_header_says_nothing(
    sample_runs: dict[str, Run],
) -> None:
    output = sample_runs["without"].output
    assert HEADER.search(output) is None
    assert not any(line.startswith("tornado_h1 ") for line in output.splitlines())


# ---------------------------------------------------------------------------
# When the swap happens
# ---------------------------------------------------------------------------

_CONFTEST = """
import sys
import tornado.httpserver  # bound to upstream's names, if imported first

HTTP1_LOADED = "tornado_h1.http1connection" in sys.modules
INSTALLED = sys.modules.get("tornado_h1") is not None and sys.modules[
    "tornado_h1"
].is_installed()
"""

_TEST_MODULE = """
import json
import os
import sys

import tornado.httpserver
import tornado.simple_httpclient

INSTALLED_AT_IMPORT = sys.modules.get("tornado_h1") is not None and sys.modules[
    "tornado_h1"
].is_installed()


def test_record():
    h1 = sys.modules.get("tornado_h1.http1connection")
    conftest = sys.modules["conftest"]
    facts = {
        "conftest_saw_http1_loaded": conftest.HTTP1_LOADED,
        "conftest_saw_installed": conftest.INSTALLED,
        "module_saw_installed": INSTALLED_AT_IMPORT,
        "httpserver_is_ours": h1 is not None
        and tornado.httpserver.HTTP1ServerConnection is h1.HTTP1ServerConnection,
        "client_is_ours": h1 is not None
        and tornado.simple_httpclient.HTTP1Connection is h1.HTTP1Connection,
    }
    with open(os.environ["FACTS"], "w") as f:
        json.dump(facts, f)
"""


def _timing_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(textwrap.dedent(_CONFTEST))
    (suite / "test_timing.py").write_text(textwrap.dedent(_TEST_MODULE))
    (suite / "pytest.ini").write_text("[pytest]\n")
    return suite


def _facts(tmp_path: Path, *args: str) -> dict[str, Any]:
    import json

    facts = tmp_path / "facts.json"
    run = run_pytest(_timing_suite(tmp_path), tmp_path, *args, FACTS=str(facts))
    assert run.status == 0, run.output
    loaded: dict[str, Any] = json.loads(facts.read_text())
    return loaded


def test_installed_after_conftests_and_before_test_modules(tmp_path: Path) -> None:
    facts = _facts(tmp_path, "--tornado-h1")
    # The rootdir conftest is imported before pytest_configure...
    assert facts["conftest_saw_installed"] is False
    # ...test modules after it...
    assert facts["module_saw_installed"] is True
    # ...and what the conftest's early import bound was switched over.
    assert facts["httpserver_is_ours"] is True
    assert facts["client_is_ours"] is True


def test_without_the_flag_nothing_is_swapped(tmp_path: Path) -> None:
    facts = _facts(tmp_path)
    assert facts["module_saw_installed"] is False
    assert facts["httpserver_is_ours"] is False
    assert facts["client_is_ours"] is False


def test_without_the_flag_http1connection_is_not_even_imported(
    tmp_path: Path,
) -> None:
    facts = _facts(tmp_path)
    assert facts["conftest_saw_http1_loaded"] is False


# ---------------------------------------------------------------------------
# The hooks themselves, in this process
# ---------------------------------------------------------------------------


class _Config:
    def __init__(self, flag: Optional[bool]) -> None:
        self.flag = flag
        self.stash = pytest.Stash()

    def getoption(self, name: str, default: Any = None) -> Any:
        assert name == "tornado_h1"
        return default if self.flag is None else self.flag


def _config(flag: Optional[bool]) -> Any:
    return _Config(flag)


def test_hooks_do_nothing_without_the_flag() -> None:
    for flag in (False, None):
        config = _config(flag)
        pytest_plugin.pytest_configure(config)
        assert not tornado_h1.is_installed()
        assert pytest_plugin.pytest_report_header(config) is None
        pytest_plugin.pytest_unconfigure(config)
        assert not tornado_h1.is_installed()


def test_hooks_install_report_and_uninstall() -> None:
    config = _config(True)
    try:
        pytest_plugin.pytest_configure(config)
        assert tornado_h1.is_installed()
        (line,) = pytest_plugin.pytest_report_header(config) or []
        assert HEADER.fullmatch(line)
        tornado_h1.uninstall()
        (line,) = pytest_plugin.pytest_report_header(config) or []
        assert "NOT active" in line
        tornado_h1.install()
    finally:
        pytest_plugin.pytest_unconfigure(config)
    assert not tornado_h1.is_installed()


def test_an_install_made_by_someone_else_is_left_alone() -> None:
    config = _config(True)
    with tornado_h1.installed():
        pytest_plugin.pytest_configure(config)
        pytest_plugin.pytest_unconfigure(config)
        assert tornado_h1.is_installed()
    assert not tornado_h1.is_installed()


def test_option_is_added(pytestconfig: pytest.Config, tmp_path: Path) -> None:
    # This very session loaded the plugin through its entry point.
    assert pytestconfig.getoption("tornado_h1") is False
    assert pytestconfig.pluginmanager.get_plugin("tornado_h1") is pytest_plugin
    run = run_pytest(tmp_path, tmp_path, "--help")
    assert run.status == 0
    assert re.search(
        r"^\s+--tornado-h1\s+run the tests with tornado_h1", run.output, re.M
    )
