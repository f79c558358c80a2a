"""The state names are declared once (functions/store.py) and the services object is the composition root's."""

import re
from pathlib import Path

import pytest

from functions import store, wiring
from functions.api import schemas

ROOT = Path(__file__).resolve().parents[2]


def test_given_the_schema_when_its_status_check_is_read_then_it_lists_exactly_the_enum():
    sql = (ROOT / "functions/migrations/0001_users_and_images.sql").read_text()
    declared = re.search(r"status text NOT NULL CHECK \(status IN \(([^)]*)\)\)", sql).group(1)
    assert tuple(name.strip(" '") for name in declared.split(",")) == store.STATUSES


def test_given_the_openapi_schemas_when_read_then_the_status_enum_comes_from_the_store():
    assert schemas.STATUS["enum"] == list(store.STATUSES)
    assert set(store.TERMINAL) <= set(store.STATUSES) and set(store.BEFORE_ORIGINAL) <= set(store.STATUSES)


def test_given_the_services_when_assigned_to_then_they_refuse():
    services = wiring.services()
    assert services is wiring.services()
    with pytest.raises(AttributeError):
        services.database = None
