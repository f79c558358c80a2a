"""Text-to-image providers behind one run/poll interface, chosen by configuration.

``build_provider`` is the only place a provider is constructed; the wiring
module calls it with values from the settings.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from functions.providers.base import (
    STANDARD_STYLES,
    GenerationRequest,
    PollResult,
    Provider,
    ProviderUnavailable,
    RunResult,
)

if TYPE_CHECKING:
    import requests

    from functions.providers.fusionbrain import FusionBrainProvider
    from functions.providers.local import LocalProvider
    from functions.providers.openai_images import OpenAIImagesProvider

# The implementations load requests (the vendors) or Pillow (local) on first use, so importing the
# interface (``providers.base``) costs neither.
_IMPLEMENTATIONS = {"FusionBrainProvider": "fusionbrain", "LocalProvider": "local",
                    "OpenAIImagesProvider": "openai_images"}

__all__ = [
    "STANDARD_STYLES",
    "FusionBrainProvider",
    "GenerationRequest",
    "LocalProvider",
    "OpenAIImagesProvider",
    "PollResult",
    "Provider",
    "ProviderUnavailable",
    "RunResult",
    "build_provider",
]

PROVIDER_NAMES = ("local", "fusionbrain", "openai")


def build_provider(
    *,
    provider: str | None = None,
    api_key: str | None = None,
    secret_key: str | None = None,
    base_url: str | None = None,
    styles_url: str | None = None,
    local_delay_seconds: float = 3.0,
    openai_api_key: str | None = None,
    openai_options: dict | None = None,
    openai_deadline: float = 45.0,
    session: requests.Session | None = None,
) -> Provider:
    """The configured provider: ``provider`` names it; left empty, Fusion Brain keys mean Fusion Brain,
    else an OpenAI key means the OpenAI-compatible API, and no keys mean local.

    Empty strings count as unset (environment variables often are). A provider
    without its keys, or an unknown name, raises ``ValueError`` so a
    misconfiguration fails at start, not on the first generation.
    ``openai_options`` are keyword arguments of ``OpenAIImagesProvider`` (URL,
    model, quality, styles, sizes, auth header, image byte cap); ``openai_deadline``
    bounds one image request and must stay below the function timeout.
    """
    name = (provider or "").strip().lower() or None
    api_key, secret_key, openai_api_key = api_key or None, secret_key or None, openai_api_key or None
    if name is None:
        name = "fusionbrain" if (api_key or secret_key) else "openai" if openai_api_key else "local"

    if name == "local":
        from functions.providers.local import LocalProvider

        return LocalProvider(delay_seconds=local_delay_seconds)
    if name == "fusionbrain":
        if not api_key or not secret_key:
            missing = [label for label, value in (("api_key", api_key), ("secret_key", secret_key)) if not value]
            raise ValueError(f"The fusionbrain provider needs {' and '.join(missing)}.")
        from functions.providers.fusionbrain import DEFAULT_BASE_URL, DEFAULT_STYLES_URL, FusionBrainProvider

        return FusionBrainProvider(
            api_key,
            secret_key,
            base_url=base_url or DEFAULT_BASE_URL,
            styles_url=styles_url or DEFAULT_STYLES_URL,
            session=session,
        )
    if name == "openai":
        if not openai_api_key:
            raise ValueError("The openai provider needs an API key (OPENAI_IMAGES_API_KEY).")
        from functions.providers.openai_images import OpenAIImagesProvider

        options = {key: value for key, value in (openai_options or {}).items() if value not in (None, "")}
        return OpenAIImagesProvider(api_key=openai_api_key, deadline_seconds=openai_deadline, session=session,
                                    **options)
    raise ValueError(f"Unknown text-to-image provider {provider!r}; expected one of {', '.join(PROVIDER_NAMES)}.")


def __getattr__(name: str) -> Any:
    if name not in _IMPLEMENTATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_IMPLEMENTATIONS[name]}"), name)
