"""The access-token authorizer that protects every route except the public ones."""

from chalice import AuthResponse, Blueprint

from functions import errors, wiring

api = Blueprint(__name__)

BEARER = "bearer "


@api.authorizer(name="access_token", ttl_seconds=0)
def access_token(auth_request):
    """Accept ``Authorization: Bearer <access JWT>``; the principal is the user id."""
    from functions.auth.tokens import verify_access_token

    header = auth_request.token or ""
    if not header[:len(BEARER)].lower() == BEARER:
        # API Gateway answers 401 exactly when an authorizer fails with the message "Unauthorized".
        raise errors.Unauthorized("Unauthorized")
    try:
        user_id = verify_access_token(wiring.token_settings(), header[len(BEARER):].strip())
    except errors.Unauthorized:
        raise errors.Unauthorized("Unauthorized") from None
    # One policy for every route, so a cached decision is right for any route the token calls.
    return AuthResponse(routes=["*"], principal_id=user_id)
