"""Settings: read once, malformed values fail naming the variable."""

from pathlib import Path

import pytest

from functions.settings import SETTINGS, Settings, SettingsError
from infra.readme_tables import settings_table


def test_given_an_empty_environment_when_read_then_every_default_applies():
    settings = Settings.from_env({})
    assert settings.stage == "local"
    assert settings.max_upload_bytes == 25 * 1024 * 1024
    assert settings.visibility_timeout == settings.function_timeout * 6
    assert settings.endpoint_url is None and settings.database_url is None


@pytest.mark.parametrize("name, value", [
    ("MAX_UPLOAD_BYTES", "lots"),
    ("MAX_IMAGE_PIXELS", "-5"),
    ("PIXELFLOW_STAGE", "staging"),
    ("LOCAL_PROVIDER_DELAY_SECONDS", "soon"),
    ("GENERATION_PROVIDER", "dall-e"),
])
def test_given_a_malformed_value_when_read_then_the_error_names_the_variable(name, value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert name in str(raised.value)


def test_given_settings_when_frozen_then_they_cannot_change():
    settings = Settings.from_env({})
    with pytest.raises(Exception):
        settings.stage = "prod"


def test_given_the_readme_when_read_then_it_lists_every_setting():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [setting.env for setting in SETTINGS if f"`{setting.env}`" not in readme]
    assert missing == []
    assert settings_table().count("\n") == len(SETTINGS) + 1
