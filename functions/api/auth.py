"""Accounts and tokens: register, login, refresh, logout, me."""

from chalice import Blueprint

from functions import accounts, wiring
from functions.api import schemas
from functions.api.routing import Reply, route

api = Blueprint(__name__)


@route(api, "POST", "/auth/register", summary="Create an account", tag="auth", auth=False,
       body=schemas.REGISTRATION, responses={201: ("The new account", schemas.USER_ENVELOPE)}, errors_=(409,))
def register(call):
    user = accounts.register(wiring.database(), call.body["email"], call.body["password"])
    return Reply(201, {"user": user})


@route(api, "POST", "/auth/login", summary="Sign in: get an access and a refresh token", tag="auth",
       auth=False, body=schemas.CREDENTIALS, responses={200: ("A new session", schemas.TOKENS)},
       errors_=(401, 429),
       description="Unknown email and wrong password answer alike. Repeated failures for one address "
                   "are answered 429 with Retry-After, for at most 15 minutes at a time.")
def login(call):
    settings = wiring.settings()
    pair = accounts.login(wiring.database(), wiring.token_settings(), call.body["email"], call.body["password"],
                          refresh_ttl=settings.refresh_token_ttl)
    return pair.to_json()


@route(api, "POST", "/auth/refresh", summary="Exchange a refresh token for a new pair", tag="auth",
       auth=False, body=schemas.REFRESH, responses={200: ("A new pair; the old refresh token is spent",
                                                          schemas.TOKENS)}, errors_=(401,),
       description="Refresh tokens rotate on every use. Presenting a spent one signs the whole session out.")
def refresh(call):
    return accounts.refresh(wiring.database(), wiring.token_settings(), call.body["refresh_token"]).to_json()


@route(api, "POST", "/auth/logout", summary="Sign out: revoke the session's refresh tokens", tag="auth",
       body=schemas.REFRESH, body_required=False, responses={204: ("Signed out", None)},
       description="With a refresh token, revokes that session; without a body, every session of the caller.")
def logout(call):
    accounts.logout(wiring.database(), call.user_id, (call.body or {}).get("refresh_token"))
    return Reply(204)


@route(api, "GET", "/auth/me", summary="The caller's account", tag="auth",
       responses={200: ("The account", schemas.USER_ENVELOPE)}, errors_=(404,))
def me(call):
    return {"user": accounts.get_user(wiring.database(), call.user_id)}
