"""The README stays true to the code: every route and every setting is in it."""

from pathlib import Path

from app import app
from functions.api.routing import operations

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_given_the_registered_routes_when_the_readme_is_read_then_each_is_listed():
    missing = [f"{op.method} {op.path}" for op in operations(app) if f"| {op.method} | `{op.path}` |" not in README]
    assert missing == []


def test_given_the_readme_when_read_then_it_gives_the_two_commands():
    assert "make run" in README and "make test" in README
