"""The one place where dependencies are built: lazily, on first use, then reused.

``import app`` builds nothing (every Lambda cold start, and ``chalice package``, import it).
Tests and the local runner call ``configure()`` to point everything at the local stack first.
"""

import threading

from functions.settings import Settings

_lock = threading.RLock()
_settings: Settings | None = None
_built: dict = {}


def configure(settings: Settings | None = None) -> Settings:
    """Forget every built client and use ``settings`` (default: read the environment again)."""
    global _settings
    with _lock:
        database = _built.get("database")
        if database is not None:
            database.close()
        _built.clear()
        _settings = settings or Settings.from_env()
        return _settings


def settings() -> Settings:
    """The settings, read from the environment on first use."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def _once(name, build):
    with _lock:
        if name not in _built:
            _built[name] = build()
        return _built[name]


def boto3_client(service: str, endpoint_url: str | None = None, secret_key: str | None = None):
    """An S3 or SQS client for the configured region and endpoint (boto3 clients are thread-safe).

    ``secret_key`` replaces the secret of the usual credentials (the embedded stack's link signer).
    """
    def build():
        import boto3
        from botocore.config import Config

        config = settings()
        endpoint = endpoint_url or config.endpoint_url
        options = {"retries": {"max_attempts": 3, "mode": "standard"}, "signature_version": "s3v4"}
        if endpoint:
            # Emulators answer on an IP or localhost, where virtual-hosted bucket names cannot resolve.
            options["s3"] = {"addressing_style": "path"}
        session = boto3.session.Session()
        keys = {}
        if secret_key:
            keys = {"aws_access_key_id": session.get_credentials().access_key, "aws_secret_access_key": secret_key}
        return session.client(service, region_name=config.region, endpoint_url=endpoint, config=Config(**options),
                              **keys)
    return _once(f"client:{service}:{endpoint_url or ''}:{'signer' if secret_key else ''}", build)


def database():
    """The PostgreSQL adapter."""
    def build():
        from functions.adapters.database import Database

        config = settings()
        if not config.database_url:
            raise RuntimeError("DATABASE_URL is not set (make run and the tests set it to the embedded server)")
        return Database(config.database_url, password=config.database_password or None,
                        connect_timeout=config.database_connect_timeout, connect_wait=config.database_connect_wait,
                        retry_after=config.database_retry_after, idle_session=config.database_idle_session)
    return _once("database", build)


def storage():
    """The bucket adapter."""
    def build():
        from functions.adapters.storage import Storage

        config = settings()
        presigner = (boto3_client("s3", config.storage_public_url, config.storage_signing_secret or None)
                     if config.storage_public_url else None)
        return Storage(boto3_client("s3"), config.bucket, presigner)
    return _once("storage", build)


def queues():
    """The queue adapter."""
    def build():
        from functions.adapters.queues import Queues

        return Queues(boto3_client("sqs"))
    return _once("queues", build)


def token_settings():
    """Signing settings for access tokens (refuses a short secret outside the local stage)."""
    def build():
        from functions.auth.tokens import TokenSettings, check_secret

        config = settings()
        return TokenSettings(
            secret=check_secret(config.jwt_secret, stage=config.stage),
            issuer=config.jwt_issuer,
            audience=config.jwt_audience,
            access_ttl_seconds=config.access_token_ttl,
        )
    return _once("tokens", build)


def password_gate():
    """The process-wide bound on concurrent password hashes (each holds argon2's 19 MiB)."""
    def build():
        from functions.auth.passwords import HashGate, slots_for_memory

        return HashGate(slots_for_memory(settings().password_hash_memory_mib))
    return _once("password_gate", build)


def session_cache():
    """The authorizer's in-process memory of revoked sessions (see functions/auth/revocations.py)."""
    def build():
        from functions.auth.revocations import RevocationCache

        return RevocationCache(ttl_seconds=settings().session_check_cache_seconds)
    return _once("session_cache", build)


def webhook_signing_key() -> str:
    """The key webhook secrets are derived from (refuses a short key outside the local stage)."""
    def build():
        from functions.auth.tokens import check_secret

        config = settings()
        return check_secret(config.webhook_signing_key, stage=config.stage, name="WEBHOOK_SIGNING_KEY")
    return _once("webhook_signing_key", build)


def provider():
    """The text-to-image provider the settings choose (local when no keys are configured)."""
    def build():
        from functions.providers import build_provider

        config = settings()
        return build_provider(provider=config.provider, api_key=config.fusionbrain_api_key,
                              secret_key=config.fusionbrain_secret_key, base_url=config.fusionbrain_url,
                              styles_url=config.fusionbrain_styles_url,
                              local_delay_seconds=config.local_provider_delay,
                              openai_api_key=config.openai_images_api_key,
                              openai_options=dict(base_url=config.openai_images_url,
                                                  model=config.openai_images_model,
                                                  quality=config.openai_images_quality,
                                                  styles=config.openai_images_styles,
                                                  sizes=config.openai_images_sizes,
                                                  auth_header=config.openai_images_auth_header,
                                                  max_image_bytes=config.max_upload_bytes),
                              # One image request must end well inside the function that makes it.
                              openai_deadline=min(config.openai_images_timeout, 0.8 * config.function_timeout))
    return _once("provider", build)


def live_client():
    """The API Gateway Management API client for pushing to WebSocket connections (the pusher's only).

    Bounded: one attempt, ``live_push_timeout`` to connect and to read, so a stuck connection
    costs the pusher at most that, once.
    """
    def build():
        import boto3
        from botocore.config import Config

        config = settings()
        if not config.live_endpoint_url:
            raise RuntimeError("LIVE_ENDPOINT_URL is not set: there is no WebSocket API to push to")
        timeout = max(0.1, config.live_push_timeout)
        return boto3.session.Session().client(
            "apigatewaymanagementapi", region_name=config.region, endpoint_url=config.live_endpoint_url,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1},
                          max_pool_connections=32))
    return _once("live_client", build)


def outbound():
    """What the functions outside the VPC get: storage, queues, settings and the provider; never a database."""
    def build():
        from functions.outbound import Outbound

        return Outbound(storage=storage(), queues=queues(), settings=settings(), provider_factory=provider)
    return _once("outbound", build)


class Services:
    """The process's dependencies as one immutable object, what handlers hand to domain functions.

    Each is built on first use (so the authorizer never builds a bucket client or the provider) and
    then shared; ``configure()`` makes the next use build them again.
    """

    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError("Services is read-only; call wiring.configure() to rebuild what it holds")

    settings = property(lambda self: settings(), doc="The settings, read once.")
    database = property(lambda self: database(), doc="The PostgreSQL adapter.")
    storage = property(lambda self: storage(), doc="The bucket adapter.")
    queues = property(lambda self: queues(), doc="The queue adapter.")
    provider = property(lambda self: provider(), doc="The text-to-image provider.")
    token_settings = property(lambda self: token_settings(), doc="Access-token signing settings.")
    password_gate = property(lambda self: password_gate(), doc="The bound on concurrent password hashes.")
    session_cache = property(lambda self: session_cache(), doc="The authorizer's memory of revoked sessions.")
    webhook_signing_key = property(lambda self: webhook_signing_key(), doc="The key webhook secrets derive from.")
    live_client = property(lambda self: live_client(), doc="The WebSocket management API client (the pusher's).")


_SERVICES = Services()


def services() -> Services:
    """The composition root's product: every dependency of this process, built lazily."""
    return _SERVICES
