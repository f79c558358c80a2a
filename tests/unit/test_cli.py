"""The CLI's pure parts: variant options, the session file, folder expansion, and how it is installed."""

import stat
import tomllib
from importlib import import_module
from pathlib import Path

import click
import pytest

from functions.cli import config, files
from functions.cli.main import _parse_variants

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, expected", [
    ("card:600x400:cover:jpeg:85", {"name": "card", "width": 600, "height": 400, "fit": "cover", "format": "jpeg",
                                    "quality": 85}),
    ("wide:1200×", {"name": "wide", "width": 1200}),
    ("tall:x900::avif", {"name": "tall", "height": 900, "format": "avif"}),
    ("sq:512", {"name": "sq", "width": 512}),
    ("plain", {"name": "plain"}),
])
def test_given_a_variant_option_then_it_becomes_the_apis_variant_object(text, expected):
    assert _parse_variants(None, None, (text,)) == [expected]


@pytest.mark.parametrize("text", [":600x400", "a:axb", "a:600x400:squash", "a:600x400:cover:gif", "a:1x1:cover:jpeg:0",
                                  "a:1x1:cover:jpeg:85:extra"])
def test_given_a_malformed_variant_option_then_a_usage_error(text):
    with pytest.raises(click.BadParameter):
        _parse_variants(None, None, (text,))


def test_given_a_login_then_the_session_file_is_private_and_holds_no_access_token(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config.store_session("http://api.example/", "ada@example.com", "refresh-1")
    path = config.credentials_path()
    assert path.parent == tmp_path / "pixelflow"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert config.session("http://api.example") == {"email": "ada@example.com", "refresh_token": "refresh-1"}
    assert config.default_api() == "http://api.example"
    assert config.forget_session("http://api.example")
    assert config.session("http://api.example") is None and config.default_api() == config.DEFAULT_API


def test_given_folders_then_files_are_expanded_once_without_hidden_ones(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    for name in ("b.jpg", "a.png", ".DS_Store", "sub/c.gif", ".git/x.jpg"):
        (tmp_path / name).write_bytes(b"x")
    names = lambda found: [str(path.relative_to(tmp_path)) for path in found]  # noqa: E731
    assert names(files.expand([str(tmp_path)], recursive=False)) == ["a.png", "b.jpg"]
    assert names(files.expand([str(tmp_path), str(tmp_path / "a.png")], recursive=True)) == [
        "a.png", "b.jpg", "sub/c.gif"]
    assert names(files.expand([str(tmp_path / ".DS_Store")], recursive=False)) == [".DS_Store"]


def test_given_the_project_metadata_then_pixelflow_is_a_console_script_and_its_libraries_stay_off_lambda():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, name = project["project"]["scripts"]["pixelflow"].split(":")
    assert callable(getattr(import_module(module), name))
    shipped = (ROOT / "requirements.txt").read_text().lower()
    for library in ("click", "rich", "requests-toolbelt", "platformdirs", "httpx", "typer"):
        assert f"\n{library}==" not in shipped, f"{library} would ship to Lambda"
