"""``pytest --tornado-h1``: run an application's own tests on tornado_h1.

Installing tornado_h1 registers this module as a pytest plugin (the
``pytest11`` entry point ``tornado_h1``). It adds one option:

``--tornado-h1``
    Put tornado_h1 in place of ``tornado.http1connection`` (as
    :func:`tornado_h1.install` does) when pytest configures itself, before
    any test module is collected, and take it out again when pytest is done.
    The session header says so, and names the Tornado release it runs
    against.

Without the option the plugin changes nothing. Everything the test suite
starts in the process (``HTTPServer``, ``AsyncHTTPClient``, the fixtures of
pytest-tornasync or ``tornado.testing``) then speaks HTTP/1 through
tornado_h1, so the suite becomes a regression test of the swap.

Why ``pytest_configure`` is early enough: pytest calls it after the
command line is parsed and before collection imports any test module. A
``conftest.py`` or another plugin may have imported Tornado (even
``tornado.httpserver``) before then; :func:`tornado_h1.install` switches the
names that modules already imported took from ``tornado.http1connection``,
so those pick up tornado_h1 as well. Only *objects* created before then (a
server started while a conftest was imported) keep upstream's classes.
"""

from __future__ import annotations

from typing import Optional

import pytest

OPTION = "--tornado-h1"
_DEST = "tornado_h1"

# Set in pytest_configure when this plugin installed tornado_h1 (and so must
# uninstall it): False if it was already installed by someone else.
_we_installed = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tornado_h1", "tornado_h1 (HTTP/1 layer for Tornado)")
    group.addoption(
        OPTION,
        action="store_true",
        default=False,
        dest=_DEST,
        help="run the tests with tornado_h1 in place of tornado.http1connection",
    )


def _wanted(config: pytest.Config) -> bool:
    return bool(config.getoption(_DEST, default=False))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _wanted(config):
        return
    import tornado_h1

    config.stash[_we_installed] = not tornado_h1.is_installed()
    tornado_h1.install()


def pytest_report_header(config: pytest.Config) -> Optional[list[str]]:
    if not _wanted(config):
        return None
    import tornado

    import tornado_h1

    if tornado_h1.is_installed():
        state = "active, in place of tornado.http1connection"
    else:
        state = "NOT active (it was uninstalled)"
    return [f"tornado_h1 {tornado_h1.__version__}: {state} (Tornado {tornado.version})"]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_we_installed, False):
        import tornado_h1

        tornado_h1.uninstall()
