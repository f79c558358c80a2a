"""Signing /img URLs: each user's delivery key, and HMAC-SHA256 over the options and the image id.

    signature = base64url_nopad(HMAC-SHA256(key, "<options>/<image_id>"))

``key`` is the user's delivery key as text (``dk_…``), derived from the server key
(WEBHOOK_SIGNING_KEY) and a random nonce stored in ``delivery_keys``, the way webhook secrets are:
the database alone cannot sign. ``options`` is the options segment exactly as it appears in the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from functions.auth.derived import derived_secret
from functions.timestamps import iso

SIGNATURE_LENGTH = 43  # 32 bytes in unpadded base64url


def derive_key(server_key: str, user_id: str, nonce: str) -> str:
    """The user's delivery key: HMAC-SHA256 of user and nonce under the server key, never stored."""
    return "dk_" + derived_secret(server_key, "delivery-key", user_id, nonce)


def sign(key: str, options: str, image_id: str) -> str:
    """The reference signer: the signature of ``/img/<signature>/<options>/<image_id>``."""
    return _b64(hmac.new(key.encode("utf-8"), f"{options}/{image_id}".encode(), hashlib.sha256).digest())


def verify(key: str, signature: str, options: str, image_id: str) -> bool:
    """Whether ``signature`` is the key's signature of these options and id (constant-time compare)."""
    if len(signature) != SIGNATURE_LENGTH:
        return False
    return hmac.compare_digest(sign(key, options, image_id).encode(), signature.encode("ascii", "replace"))


def path(key: str, options: str, image_id: str) -> str:
    """A signed path, ``/img/<signature>/<options>/<image_id>``."""
    return f"/img/{sign(key, options, image_id)}/{options}/{image_id}"


def user_key(db, server_key: str, user_id: str) -> str:
    """The user's current delivery key, made on first use (the API signs the URLs it returns with it)."""
    row = db.one("SELECT nonce FROM delivery_keys WHERE user_id = :user", user=user_id)
    if row is None:
        # Idempotent: concurrent first uses keep one nonce.
        db.execute("INSERT INTO delivery_keys (user_id, nonce) VALUES (:user, :nonce) ON CONFLICT (user_id) DO NOTHING",
                   user=user_id, nonce=secrets.token_urlsafe(24))
        row = db.one("SELECT nonce FROM delivery_keys WHERE user_id = :user", user=user_id)
    assert row is not None  # inserted just above unless it existed
    return derive_key(server_key, user_id, row["nonce"])


def new_key(db, server_key: str, user_id: str) -> dict[str, Any]:
    """Create or rotate the user's delivery key; every URL signed with the old key stops working."""
    nonce = secrets.token_urlsafe(24)
    row = db.one("INSERT INTO delivery_keys (user_id, nonce) VALUES (:user, :nonce)"
                 " ON CONFLICT (user_id) DO UPDATE SET nonce = excluded.nonce, created_at = now()"
                 " RETURNING created_at", user=user_id, nonce=nonce)
    return {"key": derive_key(server_key, user_id, nonce), "created_at": iso(row["created_at"])}


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
