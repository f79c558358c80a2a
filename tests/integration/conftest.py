"""Fixtures the integration modules share; the stack itself (``stack``, ``server``, ``runner``) is in tests/conftest.py.

A module that needs more from one of these overrides it by name and asks for the original:
``def origin(origin): origin.routes[...] = ...; return origin``.
"""

import pytest

from functions import wiring
from tests.fakes.loopback import LoopbackServer
from tests.integration.helpers import allow, sign_up


@pytest.fixture(scope="module")
def user(server, runner):
    """A fresh account for the module, with the event runner going so its images get processed."""
    return sign_up(server.url)


@pytest.fixture(scope="module")
def origin(stack):
    """A web server on loopback, on the import allow list while the module runs (loopback is otherwise refused)."""
    with LoopbackServer() as web:
        original = allow(web.host)
        yield web
        wiring.configure(original)
