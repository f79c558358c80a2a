"""The access-token authorizer that protects every route except the public ones.

It runs on every request, so it stays light: a signature check, and for a session it has not
seen within SESSION_CHECK_CACHE_SECONDS one indexed query asking whether that session was
revoked (logout, refresh-token reuse). See functions/auth/revocations.py for the window.
"""

from chalice import AuthResponse, Blueprint

from functions import errors, wiring

api = Blueprint(__name__)

BEARER = "bearer "


@api.authorizer(name="access_token", ttl_seconds=0)
def access_token(auth_request):
    """Accept ``Authorization: Bearer <access JWT>`` of a live session; the principal is the user id."""
    from functions.auth.tokens import verify_access_claims

    header = auth_request.token or ""
    if not header[:len(BEARER)].lower() == BEARER:
        # API Gateway answers 401 exactly when an authorizer fails with the message "Unauthorized".
        raise errors.Unauthorized("Unauthorized")
    try:
        claims = verify_access_claims(wiring.services().token_settings, header[len(BEARER):].strip())
    except errors.Unauthorized:
        raise errors.Unauthorized("Unauthorized") from None
    context = {}
    if claims.session_id is not None:
        if _session_revoked(claims.session_id):
            raise errors.Unauthorized("Unauthorized")
        context["sid"] = claims.session_id
    # Tokens issued before sessions were named (no sid) stay valid until they expire (15 minutes).
    # One policy for every route, so a cached decision is right for any route the token calls.
    return AuthResponse(routes=["*"], principal_id=claims.user_id, context=context)


def _session_revoked(session_id):
    from functions import accounts

    cache = wiring.services().session_cache
    revoked = cache.get(session_id)
    if revoked is None:
        revoked = accounts.session_revoked(wiring.services().database, session_id)
        cache.put(session_id, revoked)
    return revoked
