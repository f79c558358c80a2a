"""Accounts and tokens through the real HTTP server and the embedded PostgreSQL."""

import base64
import json
import time

import jwt
import pytest
import requests

from functions import accounts, wiring
from functions.auth.tokens import hash_refresh_token, issue_access_token
from tests.integration.helpers import PASSWORD, bearer, new_email, sign_up


def _post(server, path, body=None, **kwargs):
    return requests.post(server.url + path, json=body, timeout=10, **kwargs)


def _assert_json_error(answer, status, code=None, field=None):
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert "error" in body, body
    if code:
        assert body["error"]["code"] == code
    if field:
        assert body["error"]["field"] == field
    return body


def test_given_a_new_user_when_they_go_through_the_whole_flow_then_each_step_answers_right(server):
    email = new_email().replace("user", "User")
    registered = _post(server, "/auth/register", {"email": email, "password": PASSWORD})
    assert registered.status_code == 201
    assert registered.json()["user"]["email"] == email
    login = _post(server, "/auth/login", {"email": email.upper(), "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = requests.get(server.url + "/auth/me", headers=bearer(tokens), timeout=10)
    assert me.status_code == 200 and me.json()["user"]["id"] == registered.json()["user"]["id"]
    refreshed = _post(server, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    logout = _post(server, "/auth/logout", {"refresh_token": new["refresh_token"]}, headers=bearer(new))
    assert logout.status_code == 204
    after = _post(server, "/auth/refresh", {"refresh_token": new["refresh_token"]})
    _assert_json_error(after, 401, "invalid_refresh_token")


def test_given_an_existing_address_in_other_case_when_registering_then_409(server):
    email = new_email()
    assert _post(server, "/auth/register", {"email": email, "password": PASSWORD}).status_code == 201
    _assert_json_error(_post(server, "/auth/register", {"email": email.upper(), "password": PASSWORD}),
                       409, "email_taken", "email")


def _forge(claims, key="x" * 48, algorithm="HS256"):
    return jwt.encode(claims, key, algorithm=algorithm)


def _claims(user_id, **overrides):
    settings = wiring.token_settings()
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + 600, "iss": settings.issuer,
              "aud": settings.audience, "typ": "access"}
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _none_alg(claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="module")
def someone(server):
    return sign_up(server.url)


NEGATIVE_CASES = {
    "no token": lambda s, user: {},
    "malformed": lambda s, user: {"Authorization": "Bearer not.a.jwt"},
    "not bearer": lambda s, user: {"Authorization": f"Basic {user['access_token']}"},
    "bad signature": lambda s, user: {"Authorization": "Bearer " + _forge(_claims(user["user"]["id"]))},
    "alg none": lambda s, user: {"Authorization": "Bearer " + _none_alg(_claims(user["user"]["id"]))},
    "other algorithm": lambda s, user: {"Authorization": "Bearer " + _forge(
        _claims(user["user"]["id"]), key=wiring.token_settings().secret, algorithm="HS512")},
    "expired": lambda s, user: {"Authorization": "Bearer " + _forge(
        _claims(user["user"]["id"], iat=int(time.time()) - 4000, exp=int(time.time()) - 3000),
        key=wiring.token_settings().secret)},
    "missing exp": lambda s, user: {"Authorization": "Bearer " + _forge(
        _claims(user["user"]["id"], exp=None), key=wiring.token_settings().secret)},
    "wrong iss": lambda s, user: {"Authorization": "Bearer " + _forge(
        _claims(user["user"]["id"], iss="someone-else"), key=wiring.token_settings().secret)},
    "wrong aud": lambda s, user: {"Authorization": "Bearer " + _forge(
        _claims(user["user"]["id"], aud="another-api"), key=wiring.token_settings().secret)},
    "refresh token as access token": lambda s, user: {"Authorization": f"Bearer {user['refresh_token']}"},
}


@pytest.mark.parametrize("case", sorted(NEGATIVE_CASES))
def test_given_a_bad_credential_when_calling_a_protected_route_then_401_with_a_json_error(server, someone, case):
    headers = NEGATIVE_CASES[case](server, someone)
    answer = requests.get(server.url + "/auth/me", headers=headers, timeout=10)
    _assert_json_error(answer, 401, "unauthorized")


def test_given_a_valid_token_in_the_query_string_when_calling_then_401(server, someone):
    for name in ("access_token", "token", "authorization"):
        answer = requests.get(server.url + "/auth/me", params={name: someone["access_token"]}, timeout=10)
        _assert_json_error(answer, 401, "unauthorized")


def test_given_a_rotated_refresh_token_when_it_is_used_again_then_the_whole_family_is_revoked(server):
    tokens = sign_up(server.url)
    first = _post(server, "/auth/refresh", {"refresh_token": tokens["refresh_token"]}).json()
    reuse = _post(server, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    _assert_json_error(reuse, 401, "refresh_token_reused")
    # The thief's (or the owner's) newer token is dead too.
    _assert_json_error(_post(server, "/auth/refresh", {"refresh_token": first["refresh_token"]}),
                       401, "invalid_refresh_token")


def test_given_unknown_email_and_wrong_password_when_logging_in_then_answers_are_identical(server):
    known = sign_up(server.url)
    unknown = _post(server, "/auth/login", {"email": new_email(), "password": PASSWORD})
    wrong = _post(server, "/auth/login", {"email": known["email"], "password": PASSWORD + "!"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_given_repeated_failures_when_logging_in_then_429_with_retry_after_which_expires(server):
    tokens = sign_up(server.url)
    answers = [_post(server, "/auth/login", {"email": tokens["email"], "password": "wrong password!"})
               for _ in range(6)]
    assert [answer.status_code for answer in answers[:5]] == [401] * 5
    throttled = answers[5]
    _assert_json_error(throttled, 429, "too_many_attempts")
    assert 1 <= int(throttled.headers["Retry-After"]) <= 30
    # Even the right password waits: the lockout protects the account, not the guess.
    assert _post(server, "/auth/login", {"email": tokens["email"], "password": PASSWORD}).status_code == 429
    # Once the delay has passed, the owner gets in (clock moved forward instead of sleeping).
    later = time.time() + 31
    pair = accounts.login(wiring.database(), wiring.token_settings(), tokens["email"], PASSWORD,
                          refresh_ttl=3600, now=later)
    assert pair.access_token


def _user_count():
    return wiring.database().one("SELECT count(*) AS n FROM users")["n"]


@pytest.mark.parametrize("body, status, field", [
    ({"password": PASSWORD}, 422, "email"),
    ({"email": "a@example.com"}, 422, "password"),
    ({"email": 42, "password": PASSWORD}, 422, "email"),
    ({"email": "a@example.com", "password": ["list"]}, 422, "password"),
    ({"email": "x" * 300 + "@example.com", "password": PASSWORD}, 422, "email"),
    ({"email": "a@example.com", "password": "p" * 129}, 422, "password"),
    ({"email": "a@example.com", "password": "short"}, 422, "password"),
    ({"email": "not-an-email", "password": PASSWORD}, 422, "email"),
    ({"email": "a@example.com", "password": PASSWORD, "admin": True}, 422, "admin"),
])
def test_given_bad_registration_input_when_posting_then_4xx_names_the_field_and_nothing_is_written(
        server, body, status, field):
    before = _user_count()
    answer = _post(server, "/auth/register", body)
    _assert_json_error(answer, status, field=field)
    assert _user_count() == before


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_given_a_body_that_is_not_a_json_object_when_posting_then_400(server, raw):
    before = _user_count()
    answer = requests.post(server.url + "/auth/register", data=raw,
                           headers={"Content-Type": "application/json"}, timeout=10)
    _assert_json_error(answer, 400)
    assert _user_count() == before


def test_given_an_access_token_for_a_deleted_account_when_asking_me_then_404(server):
    token, _ = issue_access_token(wiring.token_settings(), "00000000-0000-4000-8000-000000000000")
    answer = requests.get(server.url + "/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    _assert_json_error(answer, 404, "user_not_found")


def _me(server, access_token):
    return requests.get(server.url + "/auth/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def test_given_a_logout_when_the_old_access_token_is_used_then_401(server):
    tokens = sign_up(server.url)
    assert _me(server, tokens["access_token"]).status_code == 200  # the authorizer has seen the session

    assert _post(server, "/auth/logout", {"refresh_token": tokens["refresh_token"]},
                 headers=bearer(tokens)).status_code == 204

    _assert_json_error(_me(server, tokens["access_token"]), 401, "unauthorized")


def test_given_a_logout_without_a_body_then_the_calling_sessions_access_token_is_refused(server):
    tokens = sign_up(server.url)
    assert _post(server, "/auth/logout", headers=bearer(tokens)).status_code == 204
    _assert_json_error(_me(server, tokens["access_token"]), 401, "unauthorized")


def test_given_a_session_revoked_by_another_process_then_its_access_token_is_refused_once_the_cache_window_ends(
        server):
    tokens = sign_up(server.url)
    assert _me(server, tokens["access_token"]).status_code == 200
    family = wiring.database().one("SELECT family_id FROM refresh_tokens WHERE token_hash = :h",
                                   h=hash_refresh_token(tokens["refresh_token"]))["family_id"]
    # Another Lambda container signs the session out: only the database knows.
    wiring.database().execute("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = :f", f=family)

    cache = wiring.session_cache()
    assert cache.ttl_seconds == wiring.settings().session_check_cache_seconds
    assert _me(server, tokens["access_token"]).status_code == 200  # within the documented window
    cache.clear()  # what SESSION_CHECK_CACHE_SECONDS later means, without waiting for it

    _assert_json_error(_me(server, tokens["access_token"]), 401, "unauthorized")


def test_given_a_reused_refresh_token_then_the_access_tokens_of_its_family_are_refused(server):
    tokens = sign_up(server.url)
    rotated = _post(server, "/auth/refresh", {"refresh_token": tokens["refresh_token"]}).json()
    assert _me(server, rotated["access_token"]).status_code == 200

    _assert_json_error(_post(server, "/auth/refresh", {"refresh_token": tokens["refresh_token"]}),
                       401, "refresh_token_reused")

    for access_token in (tokens["access_token"], rotated["access_token"]):
        _assert_json_error(_me(server, access_token), 401, "unauthorized")
    # Other sessions of the same account are untouched.
    other = _post(server, "/auth/login", {"email": tokens["email"], "password": PASSWORD}).json()
    assert _me(server, other["access_token"]).status_code == 200


@pytest.mark.parametrize("claims", [
    {"sub": "not-a-uuid"},
    {"sub": "00000000-0000-4000-8000-000000000000' OR '1'='1"},
    {"sid": "not-a-session"},
], ids=["sub", "sub with sql", "sid"])
def test_given_a_signed_token_with_an_id_that_is_not_a_uuid_then_401(server, someone, claims):
    token = _forge(_claims(someone["user"]["id"], **claims), key=wiring.token_settings().secret)
    _assert_json_error(_me(server, token), 401, "unauthorized")


def _nested(depth):
    return b'{"email": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("path, authenticated", [
    ("/auth/register", False), ("/auth/login", False), ("/auth/refresh", False), ("/uploads", True),
    ("/auth/logout", True),
])
def test_given_json_nested_2000_levels_deep_when_posting_then_400_naming_the_problem(
        server, someone, path, authenticated):
    headers = {"Content-Type": "application/json", **(bearer(someone) if authenticated else {})}
    answer = requests.post(server.url + path, data=_nested(2000), headers=headers, timeout=10)
    body = _assert_json_error(answer, 400, "json_too_deep")
    assert "deep" in body["error"]["message"]
