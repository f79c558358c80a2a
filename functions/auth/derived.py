"""Per-user secrets derived from a server key and a stored nonce, so a copy of the database alone
cannot reproduce them (webhook signing secrets, delivery keys)."""

import base64
import hashlib
import hmac


def derived_secret(server_key: str, purpose: str, user_id: str, nonce: str) -> str:
    """HMAC-SHA256 of ``purpose:user:nonce`` under ``server_key``, unpadded base64url; never stored."""
    digest = hmac.new(server_key.encode("utf-8"), f"{purpose}:{user_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
