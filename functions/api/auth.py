"""Accounts and tokens: register, login, refresh, logout, me."""

from chalice import Blueprint

from functions import accounts, wiring
from functions.api import schemas
from functions.api.routing import Reply, route

api = Blueprint(__name__)


@route(api, "POST", "/auth/register", summary="Create an account", tag="auth", auth=False,
       body=schemas.REGISTRATION, responses={201: ("The new account", schemas.USER_ENVELOPE)}, errors_=(409, 429),
       description="Answered 429 with Retry-After when more passwords are being hashed at once than the server "
                   "allows (each takes 19 MiB).")
def register(call):
    services = wiring.services()
    user = accounts.register(services.database, call.body["email"], call.body["password"],
                             gate=services.password_gate)
    return Reply(201, {"user": user})


@route(api, "POST", "/auth/login", summary="Sign in: get an access and a refresh token", tag="auth",
       auth=False, body=schemas.CREDENTIALS, responses={200: ("A new session", schemas.TOKENS)},
       errors_=(401, 429),
       description="Unknown email and wrong password answer alike. Repeated failures for one account, "
                   "many failures from one source address, and a burst of sign-ins beyond what the server "
                   "hashes at once are answered 429 with Retry-After (at most 15 minutes at a time).")
def login(call):
    services = wiring.services()
    settings = services.settings
    pair = accounts.login(services.database, services.token_settings, call.body["email"], call.body["password"],
                          refresh_ttl=settings.refresh_token_ttl, source_ip=_source_ip(call.request),
                          gate=services.password_gate, address_limit=settings.login_address_max_failures)
    return pair.to_json()


@route(api, "POST", "/auth/refresh", summary="Exchange a refresh token for a new pair", tag="auth",
       auth=False, body=schemas.REFRESH, responses={200: ("A new pair; the old refresh token is spent",
                                                          schemas.TOKENS)}, errors_=(401,),
       description="Refresh tokens rotate on every use. Presenting a spent one signs the whole session out.")
def refresh(call):
    services = wiring.services()
    try:
        return accounts.refresh(services.database, services.token_settings, call.body["refresh_token"]).to_json()
    except accounts.RefreshTokenReused as reused:
        services.session_cache.mark_revoked([reused.session_id])  # its access tokens stop here at once
        raise


@route(api, "POST", "/auth/logout", summary="Sign out: revoke the session's refresh and access tokens",
       tag="auth", body=schemas.REFRESH, body_required=False, responses={204: ("Signed out", None)},
       description="Revokes the session of the access token used, and the session of the refresh token if one "
                   "is given (an access token from before sessions were tracked, without a session, signs out "
                   "every session of the caller). Access tokens of a revoked session are "
                   "refused from then on (by other server processes within SESSION_CHECK_CACHE_SECONDS).")
def logout(call):
    services = wiring.services()
    revoked = accounts.logout(services.database, call.user_id, (call.body or {}).get("refresh_token"),
                              session_id=_authorizer_context(call.request).get("sid") or None)
    services.session_cache.mark_revoked(revoked)
    return Reply(204)


@route(api, "GET", "/auth/me", summary="The caller's account", tag="auth",
       responses={200: ("The account", schemas.USER_ENVELOPE)}, errors_=(404,))
def me(call):
    services = wiring.services()
    return {"user": accounts.get_user(services.database, call.user_id)}


def _source_ip(request):
    # API Gateway (and Chalice's local server) put the client's address here; headers could be forged.
    return ((request.context or {}).get("identity") or {}).get("sourceIp") or None


def _authorizer_context(request):
    return (request.context or {}).get("authorizer") or {}
