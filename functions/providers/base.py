"""The one interface every text-to-image provider implements.

A generation is a run/poll cycle: ``run`` starts a job and returns its id, the
caller polls ``status`` (later, from any process) until the job is done, failed
or censored. A synchronous provider (the vendor answers with the image itself)
finishes inside ``run``: its result is already ``done``, ``censored`` or ``failed``
and nothing is polled. Expected outcomes travel as values (``RunResult``,
``PollResult``); only a transient outage raises, as ``ProviderUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from functions.errors import Unavailable

# Fusion Brain's style names; the local provider uses the same ones so a request
# means the same thing whichever provider answers it.
STANDARD_STYLES = (
    {"name": "DEFAULT", "title": "No style"},
    {"name": "ANIME", "title": "Anime"},
    {"name": "UHD", "title": "Detailed photo"},
    {"name": "KANDINSKY", "title": "Kandinsky"},
)


@dataclass(frozen=True)
class GenerationRequest:
    """What to draw: a prompt, the exact output size and optional style and negative prompt."""

    prompt: str
    width: int = 1024
    height: int = 1024
    style: str | None = None
    negative_prompt: str | None = None


@dataclass(frozen=True)
class RunResult:
    """Outcome of ``Provider.run``.

    ``kind`` is ``"started"`` (``job_id`` set; ``retry_after`` is the suggested
    delay before the first poll), ``"busy"`` (the provider's queue is full or it
    rate-limits: try again after ``retry_after`` if given) or ``"rejected"``
    (permanent: bad keys or a request the provider refuses; ``message`` says why).
    A synchronous provider may also answer ``"done"`` (``image`` holds the bytes),
    ``"censored"`` or ``"failed"``. ``code``, when set, is the image's error code
    for a final outcome (e.g. ``generation_disabled``); otherwise the caller picks one.
    """

    kind: str
    job_id: str | None = None
    retry_after: float | None = None
    message: str | None = None
    image: bytes | None = None
    code: str | None = None

    @classmethod
    def started(cls, job_id: str, retry_after: float | None = None) -> RunResult:
        return cls("started", job_id=job_id, retry_after=retry_after)

    @classmethod
    def busy(cls, retry_after: float | None = None, message: str | None = None) -> RunResult:
        return cls("busy", retry_after=retry_after, message=message)

    @classmethod
    def rejected(cls, message: str, code: str | None = None) -> RunResult:
        return cls("rejected", message=message, code=code)

    @classmethod
    def done(cls, image: bytes) -> RunResult:
        return cls("done", image=image)

    @classmethod
    def censored(cls, message: str = "The provider withheld the image as inappropriate.") -> RunResult:
        return cls("censored", message=message)

    @classmethod
    def failed(cls, message: str, code: str | None = None) -> RunResult:
        return cls("failed", message=message, code=code)

    def __repr__(self) -> str:
        image = f"<{len(self.image)} bytes>" if self.image is not None else None
        return (
            f"RunResult(kind={self.kind!r}, job_id={self.job_id!r}, retry_after={self.retry_after!r}, "
            f"message={self.message!r}, image={image}, code={self.code!r})"
        )


@dataclass(frozen=True)
class PollResult:
    """Outcome of ``Provider.status``.

    ``kind`` is ``"pending"`` (poll again, after ``retry_after`` if given;
    ``provider_status`` is the provider's own word, e.g. INITIAL or PROCESSING),
    ``"done"`` (``image`` holds PNG or JPEG bytes), ``"failed"`` or
    ``"censored"`` (both final, ``message`` says why).
    """

    kind: str
    image: bytes | None = None
    provider_status: str | None = None
    message: str | None = None
    retry_after: float | None = None

    @classmethod
    def pending(cls, provider_status: str | None, retry_after: float | None = None) -> PollResult:
        return cls("pending", provider_status=provider_status, retry_after=retry_after)

    @classmethod
    def done(cls, image: bytes) -> PollResult:
        return cls("done", image=image, provider_status="DONE")

    @classmethod
    def failed(cls, message: str) -> PollResult:
        return cls("failed", message=message)

    @classmethod
    def censored(cls, message: str = "The provider withheld the image as inappropriate.") -> PollResult:
        return cls("censored", message=message)

    def __repr__(self) -> str:
        # Keep logs readable: an image is megabytes of bytes.
        image = f"<{len(self.image)} bytes>" if self.image is not None else None
        return (
            f"PollResult(kind={self.kind!r}, image={image}, provider_status={self.provider_status!r}, "
            f"message={self.message!r}, retry_after={self.retry_after!r})"
        )


class ProviderUnavailable(Unavailable):
    """The provider did not answer usefully (5xx, timeout, connection error); retry with backoff."""

    code = "provider_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Provider(Protocol):
    """A text-to-image service behind the run/poll cycle."""

    name: str
    supports_negative_prompt: bool  # False: GenerationRequest.negative_prompt is not sent

    def run(self, req: GenerationRequest) -> RunResult:
        """Start a generation (a synchronous provider finishes it here, within its own deadline)."""
        ...

    def status(self, job_id: str) -> PollResult:
        """Report on a job started by ``run``, from this or any other process."""
        ...

    def styles(self) -> list[dict]:
        """The styles a request may name: ``[{"name", "title", "image"?}]``."""
        ...
