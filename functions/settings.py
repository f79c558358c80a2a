"""Every setting pixelflow reads, declared once with its default and a sentence.

Settings are read from the environment once, into a frozen dataclass. A missing
or malformed value fails at start with the variable's name. An explicit
argument (``Settings.from_env(env={...})``) always beats the process environment.
"""

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

# Queue names are fixed: Chalice's on_sqs_message needs them at import time, and
# infra/resources.json, the AWS template and the local runner all use the same ones.
IMAGE_EVENTS_QUEUE = "image-events"
GENERATION_JOBS_QUEUE = "generation-jobs"
IMPORT_JOBS_QUEUE = "import-jobs"
WEBHOOK_DELIVERIES_QUEUE = "webhook-deliveries"
# Live updates (functions/live/): what to push to which connections, and connections found gone.
LIVE_EVENTS_QUEUE = "live-events"
LIVE_GONE_QUEUE = "live-gone"
# Consumed by the internet-facing functions, which run outside the VPC with no database (functions/outbound.py).
FETCH_ORDERS_QUEUE = "fetch-orders"
WEBHOOK_SENDS_QUEUE = "webhook-sends"
PROVIDER_CALLS_QUEUE = "provider-calls"
# What they report back, recorded in PostgreSQL by a VPC function (functions/pipeline.py record_outcome).
OUTCOMES_QUEUE = "outcomes"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _text(value: str) -> str:
    return value


def _optional_text(value: str) -> str | None:
    return value or None


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _phash_distance(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 11:  # the indexed search's bound (functions/store.py MAX_PHASH_DISTANCE)
        raise ValueError("must be a whole number from 0 to 11")
    return number


def _gravity(value: str) -> str:
    if value not in ("center", "entropy", "attention"):
        raise ValueError("must be center, entropy or attention")
    return value


def _non_negative_float(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError("must be zero or more")
    return number


def _stage(value: str) -> str:
    if value not in ("local", "dev", "prod"):
        raise ValueError("must be one of local, dev, prod")
    return value


def _host_list(value: str) -> frozenset:
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def _batch_limit(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 1000:
        raise ValueError("must be between 1 and 1000")
    return number


def _emulator(value: str) -> str:
    if value not in ("localstack", "moto"):
        raise ValueError("must be localstack or moto")
    return value


def _provider(value: str) -> str:
    if value not in ("", "local", "fusionbrain", "openai"):
        raise ValueError("must be local, fusionbrain or openai (or empty to choose by keys)")
    return value


def _name_list(value: str) -> tuple:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _width_list(value: str) -> tuple:
    widths = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    if not widths or not all(1 <= width <= 8192 for width in widths):
        raise ValueError("must be a comma-separated list of widths from 1 to 8192")
    return widths


def _auth_header(value: str) -> str:
    if value.lower() not in ("authorization", "api-key"):
        raise ValueError("must be authorization or api-key")
    return value.lower()


@dataclasses.dataclass(frozen=True)
class Setting:
    field: str
    env: str
    default: str | None
    parse: Callable[[str], object]
    doc: str


SETTINGS = (
    Setting("stage", "PIXELFLOW_STAGE", "local", _stage,
            "Deployment stage: local, dev or prod. Outside local, secrets must be given."),
    Setting("region", "AWS_DEFAULT_REGION", "us-east-1", _text,
            "AWS region for S3 and SQS."),
    Setting("endpoint_url", "AWS_ENDPOINT_URL", "", _optional_text,
            "S3/SQS endpoint (moto, LocalStack). Unset on AWS. `make run` sets it to the emulator it starts "
            "(PIXELFLOW_EMULATOR)."),
    Setting("storage_public_url", "STORAGE_PUBLIC_ENDPOINT_URL", "", _optional_text,
            "Endpoint written into presigned links when browsers reach storage at another address than "
            "the app does (docker compose: http://127.0.0.1:4566). Empty: AWS_ENDPOINT_URL."),
    Setting("storage_signing_secret", "STORAGE_SIGNING_SECRET", "", _text,
            "Embedded stack: the secret key presigned links are signed with, which its storage gate checks "
            "(the emulator's own key is well known). Set by the stack; empty: the AWS credentials."),
    Setting("database_url", "DATABASE_URL", "", _optional_text,
            "PostgreSQL URL (postgresql://user:pass@host:port/db, or ?host=/socket/dir). "
            "`make run` starts an embedded server when unset."),
    Setting("database_password", "DATABASE_PASSWORD", "", _text,
            "Password for DATABASE_URL's user, kept apart so a generated password needs no URL escaping."),
    Setting("database_connect_timeout", "DATABASE_CONNECT_TIMEOUT_SECONDS", "5", _positive_int,
            "Longest one attempt to open a database connection may take (TCP, TLS, sign-in) before it is given up."),
    Setting("database_connect_wait", "DATABASE_CONNECT_WAIT_SECONDS", "3", _non_negative_float,
            "How long a caller keeps trying to open a database connection (attempts at growing intervals) before "
            "it answers 503 (HTTP) or leaves the message to the queue's retry (events). The template gives the "
            "event functions half their timeout, which covers Aurora resuming from a pause (~15 s, ~30 s after "
            "a day paused); the API keeps this short."),
    Setting("database_retry_after", "DATABASE_RETRY_AFTER_SECONDS", "15", _positive_int,
            "Retry-After of a 503 answered because the database could not be reached (Aurora resumes in ~15 s)."),
    Setting("database_idle_session", "DATABASE_IDLE_SESSION_SECONDS", "60", _positive_int,
            "The server closes a connection idle this long (idle_session_timeout), so a warm function's pooled "
            "connections never keep Aurora from pausing; the pool drops its own a little earlier."),
    Setting("bucket", "PIXELFLOW_BUCKET", "pixelflow-images", _text,
            "Bucket holding originals/ and variants/."),
    Setting("public_origin", "PIXELFLOW_PUBLIC_ORIGIN", "http://127.0.0.1:8000", _text,
            "Origin of the web page; the bucket's CORS rule allows browser uploads from it."),
    Setting("jwt_secret", "JWT_SECRET", "", _text,
            "HS256 key for access tokens, at least 32 bytes outside the local stage "
            "(local generates a random one per process when empty)."),
    Setting("webhook_signing_key", "WEBHOOK_SIGNING_KEY", "", _text,
            "Key every user's webhook secret is derived from (HMAC-SHA256 of the user and a random nonce), so "
            "the database holds no usable secret; at least 32 bytes outside the local stage. Changing it changes "
            "every user's secret. `make run` keeps one in .pixelflow/; otherwise local uses a random one per process."),
    Setting("jwt_issuer", "JWT_ISSUER", "pixelflow", _text, "`iss` claim of access tokens."),
    Setting("jwt_audience", "JWT_AUDIENCE", "pixelflow-api", _text, "`aud` claim of access tokens."),
    Setting("access_token_ttl", "ACCESS_TOKEN_TTL_SECONDS", "900", _positive_int,
            "Lifetime of an access token."),
    Setting("refresh_token_ttl", "REFRESH_TOKEN_TTL_SECONDS", "2592000", _positive_int,
            "Lifetime of a refresh token family (30 days)."),
    Setting("max_upload_bytes", "MAX_UPLOAD_BYTES", str(25 * 1024 * 1024), _positive_int,
            "Largest original accepted, by upload, import or generation."),
    Setting("max_image_pixels", "MAX_IMAGE_PIXELS", str(50_000_000), _positive_int,
            "Largest width x height decoded; bigger images fail as too_many_pixels."),
    Setting("max_variant_pixels", "MAX_VARIANT_PIXELS", str(100_000_000), _positive_int,
            "Most pixels one image's variants may add up to, the standard WebP included; more fails as "
            "variants_too_large (refused at request time when the sizes asked for exceed it alone)."),
    Setting("max_image_cpu_seconds", "MAX_IMAGE_CPU_SECONDS", "40", _positive_int,
            "CPU seconds one image's processing may use, summed over its threads; no decode, resize or encode "
            "step starts once they are spent, and the image fails as too_slow. Keep it below "
            "FUNCTION_TIMEOUT_SECONDS (a 48 MP photo's standard set took ~20 s of CPU on a busy 2-core machine)."),
    Setting("max_animation_pixels", "MAX_ANIMATION_PIXELS", str(200_000_000), _positive_int,
            "Most frame-pixels an animated GIF or WebP may cost (every frame decoded plus every frame of its animated "
            "WebP variants); over it the variants are stills of the first frame and the image's animation says why. "
            "Animated frames are held in memory until encoded (4 bytes a pixel)."),
    Setting("duplicate_distance", "DUPLICATE_MAX_DISTANCE", "10", _phash_distance,
            "Most bits (0-11) two images' 64-bit perceptual hashes may differ in for them to count as duplicates "
            "(listed as duplicates, GET /images?similar_to=, on_duplicate reject). Re-encodes and resizes differ "
            "in 0-2 bits, 2% crops in up to 8, different photos in 20 or more."),
    Setting("thumbnail_gravity", "THUMBNAIL_GRAVITY", "center", _gravity,
            "Where the 128x128 thumbnail's crop sits: center, entropy (busiest part) or attention (most salient)."),
    Setting("upload_url_ttl", "UPLOAD_URL_TTL_SECONDS", "600", _positive_int,
            "Lifetime of a presigned upload POST."),
    Setting("download_url_ttl", "DOWNLOAD_URL_TTL_SECONDS", "300", _positive_int,
            "Lifetime of presigned download links."),
    Setting("delivery_max_pixels", "DELIVERY_MAX_PIXELS", str(40_000_000), _positive_int,
            "Largest output width x height GET /img renders; a URL asking for more is answered 400 "
            "(output_too_large) before anything is read."),
    Setting("delivery_inline_bytes", "DELIVERY_MAX_INLINE_BYTES", str(3_000_000), _positive_int,
            "Largest rendition GET /img answers with its bytes (API Gateway and Lambda take about 4 MB once "
            "base64-encoded); a bigger one is answered with a redirect to a short-lived presigned GET."),
    Setting("delivery_redirect_ttl", "DELIVERY_REDIRECT_TTL_SECONDS", "60", _positive_int,
            "Lifetime of the presigned GET a big rendition redirects to."),
    Setting("delivery_widths", "DELIVERY_WIDTHS", "320,640,960,1280,1920", _width_list,
            "Comma-separated widths of the srcset in every image's `responsive` (capped at the original's width)."),
    Setting("delivery_cdn_seconds", "DELIVERY_CDN_SECONDS", "86400", _positive_int,
            "Longest a shared cache (CloudFront, whose cache policy TTLs follow it) may keep a GET /img answer "
            "(s-maxage), and a browser one without v: how long a rotated key, a delete or a replacement may "
            "still be served from caches."),
    Setting("delivery_base_url", "DELIVERY_BASE_URL", "", _text,
            "Origin written before /img/... in `responsive` URLs (on AWS: https://<CloudFront domain>); empty: "
            "paths relative to the API's origin."),
    Setting("function_timeout", "FUNCTION_TIMEOUT_SECONDS", "60", _positive_int,
            "Timeout of the event functions (the local runner ends an invocation at it), and the length of "
            "the claim leases a running job renews; queue visibility timeouts are six times this."),
    Setting("runner_concurrency", "RUNNER_CONCURRENCY", "2", _positive_int,
            "Local event runner: warm worker processes shared by every queue (handler calls in flight)."),
    Setting("runner_wait_seconds", "RUNNER_WAIT_SECONDS", "1", _positive_int,
            "Local event runner: long-poll wait per receive call (1..20)."),
    Setting("provider", "GENERATION_PROVIDER", "", _provider,
            "Text-to-image provider: local, fusionbrain or openai; empty picks fusionbrain when its keys are set, "
            "else openai when OPENAI_IMAGES_API_KEY is, else local."),
    Setting("fusionbrain_url", "FUSIONBRAIN_URL", "https://api-key.fusionbrain.ai/", _text,
            "Base URL of the Fusion Brain API."),
    Setting("fusionbrain_api_key", "FUSIONBRAIN_API_KEY", "", _text, "Fusion Brain X-Key."),
    Setting("fusionbrain_secret_key", "FUSIONBRAIN_SECRET_KEY", "", _text, "Fusion Brain X-Secret."),
    Setting("fusionbrain_styles_url", "FUSIONBRAIN_STYLES_URL",
            "https://cdn.fusionbrain.ai/static/styles/key", _text,
            "Public JSON list of Fusion Brain styles."),
    Setting("local_provider_delay", "LOCAL_PROVIDER_DELAY_SECONDS", "3", _non_negative_float,
            "How long the offline provider pretends to work."),
    Setting("openai_images_url", "OPENAI_IMAGES_URL", "https://api.openai.com/v1", _text,
            "Base URL of an OpenAI-compatible Images API (POST {base}/images/generations): OpenAI, Azure "
            "OpenAI's /openai/v1, or a self-hosted server."),
    Setting("openai_images_api_key", "OPENAI_IMAGES_API_KEY", "", _text,
            "API key for OPENAI_IMAGES_URL (a secret: never logged)."),
    Setting("openai_images_auth_header", "OPENAI_IMAGES_AUTH_HEADER", "authorization", _auth_header,
            "How the key is sent: authorization (Bearer, OpenAI and most servers) or api-key (Azure)."),
    Setting("openai_images_model", "OPENAI_IMAGES_MODEL", "gpt-image-1", _text,
            "Model named in every request (on Azure, the deployment name)."),
    Setting("openai_images_quality", "OPENAI_IMAGES_QUALITY", "", _text,
            "quality sent with every request (e.g. low, medium, high, standard, hd); empty: not sent."),
    Setting("openai_images_styles", "OPENAI_IMAGES_STYLES", "", _name_list,
            "Comma-separated styles offered by GET /generations/styles and sent as style (DALL-E 3: "
            "vivid,natural); empty: none."),
    Setting("openai_images_sizes", "OPENAI_IMAGES_SIZES", "", _name_list,
            "Comma-separated WxH sizes the endpoint accepts (OpenAI: 1024x1024,1536x1024,1024x1536); a request "
            "for another size asks for the closest in shape. Empty: the requested size is sent as it is."),
    Setting("openai_images_timeout", "OPENAI_IMAGES_TIMEOUT_SECONDS", "50", _positive_int,
            "Longest one image request may take before the image fails as generation_timeout; at most 80 % of "
            "FUNCTION_TIMEOUT_SECONDS is used."),
    Setting("generation_max_polls", "GENERATION_MAX_POLLS", "60", _positive_int,
            "Most status polls per generation before it fails as generation_timeout."),
    Setting("generation_deadline", "GENERATION_DEADLINE_SECONDS", "600", _positive_int,
            "Overall deadline of one generation."),
    Setting("import_allowed_hosts", "IMPORT_ALLOWED_HOSTS", "", _host_list,
            "Comma-separated host[:port] list exempt from the SSRF address check of imports and webhook "
            "deliveries (tests only)."),
    Setting("import_deadline", "IMPORT_DEADLINE_SECONDS", "30", _positive_int,
            "Longest a URL import may take, redirects included; at most 80 % of FUNCTION_TIMEOUT_SECONDS is used."),
    Setting("max_batch_items", "MAX_BATCH_ITEMS", "100", _batch_limit,
            "Most files and URLs together in one POST /batches (1..1000)."),
    Setting("webhook_max_attempts", "WEBHOOK_MAX_ATTEMPTS", "6", _positive_int,
            "Delivery attempts per webhook event before it is recorded as failed."),
    Setting("webhook_retry_seconds", "WEBHOOK_RETRY_SECONDS", "2", _positive_int,
            "Wait before the second delivery attempt; doubles after each failure, at most 900 s (SQS's limit)."),
    Setting("password_hash_memory_mib", "PASSWORD_HASH_MEMORY_MIB", "128", _positive_int,
            "Memory one process may spend on password hashes at once (argon2id takes 19 MiB each, so the "
            "default runs 6 sign-ins or registrations at a time); more wait up to 5 s, then get 429 with Retry-After."),
    Setting("login_address_max_failures", "LOGIN_ADDRESS_MAX_FAILURES", "100", _positive_int,
            "Failed sign-ins one source address may make across all accounts within 15 minutes before it gets 429."),
    Setting("session_check_cache_seconds", "SESSION_CHECK_CACHE_SECONDS", "60", _non_negative_float,
            "How long the authorizer trusts its in-process answer that a session is not revoked; a logout in "
            "another process (Lambda container) takes effect there at most this much later (0: ask every time)."),
    Setting("emulator", "PIXELFLOW_EMULATOR", "localstack", _emulator,
            "S3/SQS emulator the embedded stack starts when AWS_ENDPOINT_URL is unset: localstack or moto "
            "(either behind the storage gate, which checks upload policies and link signatures)."),
    Setting("snapshot_seconds", "PIXELFLOW_SNAPSHOT_SECONDS", "10", _positive_int,
            "Embedded stack: seconds between saves of the emulator's bucket to the state folder (only changed "
            "objects are copied); a crash of the emulator itself loses at most this much."),
    Setting("live_endpoint_url", "LIVE_ENDPOINT_URL", "", _optional_text,
            "The WebSocket API's management endpoint (https://<api>.execute-api.<region>.amazonaws.com/<stage>; "
            "make run sets its own gateway's); empty: nothing is pushed, and clients poll."),
    Setting("live_socket_url", "LIVE_SOCKET_URL", "", _optional_text,
            "Where clients open the WebSocket (wss://<api>.execute-api.<region>.amazonaws.com/<stage>); POST "
            "/live/tickets answers with it and the page's CSP allows it. make run uses it when set (docker compose: "
            "the published live port), else its own gateway's address. Empty elsewhere: 503, and the page polls."),
    Setting("live_ticket_seconds", "LIVE_TICKET_SECONDS", "30", _positive_int,
            "How long a WebSocket connection ticket (POST /live/tickets) may wait to be used; it is used once."),
    Setting("live_push_timeout", "LIVE_PUSH_TIMEOUT", "2", _non_negative_float,
            "Seconds one push to one WebSocket connection may take before it is given up (best effort)."),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    endpoint_url: str | None
    storage_public_url: str | None
    storage_signing_secret: str
    database_url: str | None
    database_password: str
    database_connect_timeout: int
    database_connect_wait: float
    database_retry_after: int
    database_idle_session: int
    bucket: str
    public_origin: str
    jwt_secret: str
    webhook_signing_key: str
    jwt_issuer: str
    jwt_audience: str
    access_token_ttl: int
    refresh_token_ttl: int
    max_upload_bytes: int
    max_image_pixels: int
    max_variant_pixels: int
    max_image_cpu_seconds: int
    max_animation_pixels: int
    duplicate_distance: int
    thumbnail_gravity: str
    upload_url_ttl: int
    download_url_ttl: int
    delivery_max_pixels: int
    delivery_inline_bytes: int
    delivery_redirect_ttl: int
    delivery_widths: tuple
    delivery_base_url: str
    delivery_cdn_seconds: int
    function_timeout: int
    runner_concurrency: int
    runner_wait_seconds: int
    provider: str
    fusionbrain_url: str
    fusionbrain_api_key: str
    fusionbrain_secret_key: str
    fusionbrain_styles_url: str
    local_provider_delay: float
    openai_images_url: str
    openai_images_api_key: str
    openai_images_auth_header: str
    openai_images_model: str
    openai_images_quality: str
    openai_images_styles: tuple
    openai_images_sizes: tuple
    openai_images_timeout: int
    generation_max_polls: int
    generation_deadline: int
    import_allowed_hosts: frozenset
    import_deadline: int
    max_batch_items: int
    webhook_max_attempts: int
    webhook_retry_seconds: int
    password_hash_memory_mib: int
    login_address_max_failures: int
    session_check_cache_seconds: float
    emulator: str
    snapshot_seconds: int
    live_endpoint_url: str | None
    live_socket_url: str | None
    live_ticket_seconds: int
    live_push_timeout: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every setting from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env)
            if raw is None:
                raw = setting.default
            if raw is None:
                raise SettingsError(f"{setting.env} is required: {setting.doc}")
            try:
                values[setting.field] = setting.parse(raw.strip())
            except ValueError as error:
                raise SettingsError(f"{setting.env}={raw!r} is not valid: {error}") from None
        return cls(**values)

    @property
    def visibility_timeout(self) -> int:
        """Queue visibility timeout: six times the consumer's timeout, as AWS advises."""
        return self.function_timeout * 6
