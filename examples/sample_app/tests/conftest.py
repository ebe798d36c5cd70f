"""Fixtures for the sample application's tests.

pytest-tornasync wants an ``app`` fixture; its ``http_server``,
``http_server_client`` and ``http_client`` fixtures serve and fetch from it.

This file is imported before pytest configures itself, so before
``--tornado-h1`` swaps tornado_h1 in. It imports ``tornado.httpserver`` on
purpose, as an application's conftest often does indirectly: the swap must
reach modules imported that early too.
"""

from __future__ import annotations

import pytest
import tornado.httpserver  # noqa: F401  (imported early on purpose)
import tornado.web
from app import make_app


@pytest.fixture
def app() -> tornado.web.Application:
    return make_app()
