"""Text-to-image providers behind one run/poll interface, chosen by configuration.

``build_provider`` is the only place a provider is constructed; the wiring
module calls it with values from the settings.
"""

from __future__ import annotations

import requests

from functions.providers.base import (
    STANDARD_STYLES,
    GenerationRequest,
    PollResult,
    Provider,
    ProviderUnavailable,
    RunResult,
)
from functions.providers.fusionbrain import DEFAULT_BASE_URL, DEFAULT_STYLES_URL, FusionBrainProvider
from functions.providers.local import LocalProvider

__all__ = [
    "STANDARD_STYLES",
    "FusionBrainProvider",
    "GenerationRequest",
    "LocalProvider",
    "PollResult",
    "Provider",
    "ProviderUnavailable",
    "RunResult",
    "build_provider",
]

PROVIDER_NAMES = ("local", "fusionbrain")


def build_provider(
    *,
    provider: str | None = None,
    api_key: str | None = None,
    secret_key: str | None = None,
    base_url: str | None = None,
    styles_url: str | None = None,
    local_delay_seconds: float = 3.0,
    session: requests.Session | None = None,
) -> Provider:
    """The configured provider: ``provider`` names it; left empty, keys mean Fusion Brain and no keys mean local.

    Empty strings count as unset (environment variables often are). A Fusion
    Brain provider without both keys, or an unknown name, raises ``ValueError``
    so a misconfiguration fails at start, not on the first generation.
    """
    name = (provider or "").strip().lower() or None
    api_key, secret_key = api_key or None, secret_key or None
    if name is None:
        name = "fusionbrain" if (api_key or secret_key) else "local"

    if name == "local":
        return LocalProvider(delay_seconds=local_delay_seconds)
    if name == "fusionbrain":
        missing = [label for label, value in (("api_key", api_key), ("secret_key", secret_key)) if not value]
        if missing:
            raise ValueError(f"The fusionbrain provider needs {' and '.join(missing)}.")
        return FusionBrainProvider(
            api_key,
            secret_key,
            base_url=base_url or DEFAULT_BASE_URL,
            styles_url=styles_url or DEFAULT_STYLES_URL,
            session=session,
        )
    raise ValueError(f"Unknown text-to-image provider {provider!r}; expected one of {', '.join(PROVIDER_NAMES)}.")
