"""The pure auth domain: passwords, e-mail addresses, tokens, secrets and the throttle policy."""

import base64
import hashlib
import json
import logging
import string

import jwt
import pytest
from argon2 import PasswordHasher, extract_parameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.auth import passwords
from functions.auth.emails import normalise_email
from functions.auth.passwords import (
    burn_verify_time,
    hash_password,
    needs_rehash,
    validate_password,
    verify_password,
)
from functions.auth.throttle import FailurePolicy, counter_expired, lockout_seconds, retry_after
from functions.auth.tokens import (
    LEEWAY_SECONDS,
    InvalidToken,
    TokenSettings,
    check_secret,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_access_token,
)
from functions.errors import InvalidInput, Unauthorized

SECRET = "unit-test-secret-long-enough-for-hs256-hs384-and-hs512-012345678"
SETTINGS = TokenSettings(secret=SECRET)
NOW = 1_700_000_000
USER_ID = "5b0c3f9e-8a52-4a4e-9d0e-0f6e2f1c7a11"

# 128 characters, several bytes each in UTF-8 (two-, three- and four-byte characters).
MULTIBYTE_128 = ("pässwörd€😀" * 13)[:127] + "é"


# --- passwords ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multibyte_hash():
    return hash_password(MULTIBYTE_128)


@pytest.mark.parametrize("length", [10, 11, 127, 128])
def test_given_password_within_bounds_when_validated_then_accepted(length):
    validate_password("x" * length)


@pytest.mark.parametrize("password", ["x" * 9, "x" * 129, "", "€" * 9, "😀" * 129])
def test_given_password_out_of_bounds_when_validated_then_invalid_input_on_password(password):
    with pytest.raises(InvalidInput) as caught:
        validate_password(password)
    assert caught.value.field == "password"
    assert "characters" in caught.value.message


@pytest.mark.parametrize("password", [None, b"0123456789ab", 1234567890123, ["x"] * 12])
def test_given_non_string_password_when_validated_then_invalid_input(password):
    with pytest.raises(InvalidInput) as caught:
        validate_password(password)
    assert caught.value.field == "password"


def test_given_128_multibyte_characters_when_validated_then_counted_as_characters_not_bytes():
    assert len(MULTIBYTE_128) == 128
    assert len(MULTIBYTE_128.encode("utf-8")) > 200
    validate_password(MULTIBYTE_128)


def test_given_too_short_password_when_hashed_then_rejected_before_hashing():
    with pytest.raises(InvalidInput):
        hash_password("short")


def test_given_hashed_password_when_verified_with_same_password_then_true(multibyte_hash):
    assert verify_password(multibyte_hash, MULTIBYTE_128) is True


def test_given_hashed_password_when_last_character_differs_then_false(multibyte_hash):
    # Proves nothing is truncated: the 128th character (bytes 213-214 in UTF-8) still counts.
    assert verify_password(multibyte_hash, MULTIBYTE_128[:-1] + "è") is False
    assert verify_password(multibyte_hash, MULTIBYTE_128[:-1]) is False


def test_given_new_hash_when_inspected_then_argon2id_with_owasp_parameters(multibyte_hash):
    assert multibyte_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert needs_rehash(multibyte_hash) is False


def test_given_same_password_twice_when_hashed_then_salts_differ(multibyte_hash):
    assert hash_password(MULTIBYTE_128) != multibyte_hash


def test_given_password_in_another_unicode_form_when_verified_then_true():
    stored = hash_password("ｆｕｌｌｗｉｄｔｈ１２")  # full-width forms, NFKC-equal to ASCII
    assert verify_password(stored, "fullwidth12") is True


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$2b$12$abcdefghijklmnopqrstuuD0lQ6J0B2l4m7eCZ4p8b1xFqk2zG1y",
        "$argon2id$v=19$m=19456,t=2,p=1$zzz$zzz",
        "$argon2id$v=19$m=1,t=2,p=1$UJ09UCPSeTgccs8B8N5Z5g$DEBtYprgEz3qoYqtEJ5kFpOUnAJRAE3THzLA/8pTypc",
        None,
        b"$argon2id$",
    ],
)
def test_given_malformed_hash_when_verified_then_false_without_raising(stored):
    assert verify_password(stored, "correct horse battery") is False


def test_given_non_string_password_when_verified_then_false(multibyte_hash):
    assert verify_password(multibyte_hash, None) is False


def test_given_hash_made_with_weaker_parameters_when_checked_then_needs_rehash():
    legacy = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("legacy password")
    assert needs_rehash(legacy) is True
    assert verify_password(legacy, "legacy password") is True  # still accepted until upgraded


@pytest.mark.parametrize("stored", ["", "garbage", None])
def test_given_unreadable_hash_when_checked_then_needs_rehash(stored):
    assert needs_rehash(stored) is True


def test_given_unknown_account_when_burning_verify_time_then_it_verifies_a_hash_of_the_same_cost(
    multibyte_hash,
):
    # Same cost parameters and the same verify call as a real account: the time it takes is
    # measured side by side in bench/bench_auth.py, never asserted here (shared, noisy machines).
    burn_verify_time("wrong password!")
    dummy = passwords._dummy_hash()
    assert needs_rehash(dummy) is False
    assert extract_parameters(dummy) == extract_parameters(multibyte_hash)
    assert verify_password(dummy, "wrong password!") is False


# --- e-mail addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice.Smith@Example.COM \n", "alice.smith@example.com"),
        ("ALICE+tag@Sub.Example.co.uk", "alice+tag@sub.example.co.uk"),
        ("josé@exämple.de", "josé@exämple.de"),
    ],
)
def test_given_valid_address_when_normalised_then_stripped_and_lower_cased(raw, expected):
    assert normalise_email(raw) == expected


def test_given_addresses_differing_in_case_when_normalised_then_equal():
    assert normalise_email("Bob@Example.com") == normalise_email("bOB@example.COM")


def test_given_address_at_length_limits_when_normalised_then_accepted():
    local = "l" * 64
    domain = "d" * (254 - 64 - 1 - 4) + ".com"
    address = f"{local}@{domain}"
    assert len(address) == 254
    assert normalise_email(address) == address


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        b"alice@example.com",
        "",
        "   ",
        "alice.example.com",
        "alice@@example.com",
        "alice@bob@example.com",
        "@example.com",
        "alice@",
        "alice@localhost",
        "alice@.com",
        "alice@example..com",
        "alice@example.com.",
        "l" * 65 + "@example.com",
        "a@" + "d" * 249 + ".com",
        "al ice@example.com",
        "alice@exa mple.com",
        "alice\t@example.com",
        "alice\x00@example.com",
        "alice\r\nBcc: x@example.com",
        "ali\u200bce@example.com",
        "alice@exam\u202eple.com",
        '"alice"@example.com',
        "Alice <alice@example.com>",
        "alice@[127.0.0.1]",
    ],
)
def test_given_unacceptable_address_when_normalised_then_invalid_input_on_email(raw):
    with pytest.raises(InvalidInput) as caught:
        normalise_email(raw)
    assert caught.value.field == "email"
    assert caught.value.message


# --- access tokens -------------------------------------------------------------------------


def _claims(**overrides):
    claims = {
        "sub": USER_ID,
        "iat": NOW,
        "exp": NOW + 900,
        "iss": "pixelflow",
        "aud": "pixelflow-api",
        "jti": "test-jti",
        "typ": "access",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned(header, claims, signature=""):
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{signature}"


def _assert_rejected(token, *, now=NOW, settings=SETTINGS):
    with pytest.raises(InvalidToken) as caught:
        verify_access_token(settings, token, now=now)
    error = caught.value
    assert isinstance(error, Unauthorized)
    assert error.code == "invalid_token"
    if isinstance(token, str) and token:
        assert token not in error.message and token not in str(error)
    return error


def test_given_issued_token_when_verified_then_returns_user_id():
    token, expires_in = issue_access_token(SETTINGS, USER_ID, now=NOW)
    assert expires_in == 900
    assert verify_access_token(SETTINGS, token, now=NOW + 60) == USER_ID


def test_given_issued_token_without_clock_when_verified_now_then_returns_user_id():
    token, _ = issue_access_token(SETTINGS, USER_ID)
    assert verify_access_token(SETTINGS, token) == USER_ID


def test_given_issued_token_when_decoded_then_carries_every_claim():
    token, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["sub"] == USER_ID
    assert claims["iat"] == NOW and claims["exp"] == NOW + 900
    assert claims["iss"] == "pixelflow" and claims["aud"] == "pixelflow-api"
    assert claims["typ"] == "access"
    assert len(claims["jti"]) >= 20


def test_given_two_tokens_for_same_user_and_second_when_issued_then_jti_differs():
    first, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    second, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    first_jti = jwt.decode(first, options={"verify_signature": False})["jti"]
    second_jti = jwt.decode(second, options={"verify_signature": False})["jti"]
    assert first != second and first_jti != second_jti


def test_given_custom_ttl_when_issued_then_expires_in_follows_settings():
    settings = TokenSettings(secret=SECRET, access_ttl_seconds=60)
    token, expires_in = issue_access_token(settings, USER_ID, now=NOW)
    assert expires_in == 60
    _assert_rejected(token, now=NOW + 60 + LEEWAY_SECONDS, settings=settings)


@pytest.mark.parametrize("user_id", ["", None, 42])
def test_given_no_user_id_when_issuing_then_value_error(user_id):
    with pytest.raises(ValueError):
        issue_access_token(SETTINGS, user_id, now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d.e",
        "....",
        "eyJ.eyJ.sig",
        "éè.çà.ü",
        "x" * 10_000,
        None,
        42,
        b"a.b.c",
    ],
)
def test_given_malformed_token_when_verified_then_invalid_token(token):
    _assert_rejected(token)


def test_given_refresh_token_when_used_as_access_token_then_invalid_token():
    _assert_rejected(new_refresh_token())


def test_given_token_signed_with_other_secret_when_verified_then_invalid_token():
    token = jwt.encode(_claims(), "another-secret-that-is-also-long-enough-for-any-hmac-0123456789", algorithm="HS256")
    _assert_rejected(token)


def test_given_token_with_tampered_claims_when_verified_then_invalid_token():
    token, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    header, _, signature = token.split(".")
    forged_claims = _b64(json.dumps(_claims(sub="someone-else")).encode())
    _assert_rejected(f"{header}.{forged_claims}.{signature}")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_given_unsigned_alg_none_token_when_verified_then_invalid_token(alg):
    _assert_rejected(_unsigned({"alg": alg, "typ": "JWT"}, _claims()))


def test_given_alg_none_header_with_a_real_signature_when_verified_then_invalid_token():
    token, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    signature = token.split(".")[2]
    _assert_rejected(_unsigned({"alg": "none", "typ": "JWT"}, _claims(), signature))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_given_token_signed_with_same_secret_but_other_hmac_when_verified_then_invalid_token(alg):
    _assert_rejected(jwt.encode(_claims(), SECRET, algorithm=alg))


def test_given_token_signed_with_rsa_key_when_verified_then_invalid_token():
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _assert_rejected(jwt.encode(_claims(), pem, algorithm="RS256"))


def test_given_expired_token_when_verified_then_invalid_token_saying_expired():
    token, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    error = _assert_rejected(token, now=NOW + 900 + LEEWAY_SECONDS)
    assert error.reason == "expired"
    assert "expired" in error.message


def test_given_token_just_past_expiry_when_within_leeway_then_accepted():
    assert 0 < LEEWAY_SECONDS <= 5
    token, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    assert verify_access_token(SETTINGS, token, now=NOW + 900 + LEEWAY_SECONDS - 1) == USER_ID


def test_given_token_issued_in_the_future_when_verified_then_invalid_token():
    token, _ = issue_access_token(SETTINGS, USER_ID, now=NOW + 60)
    _assert_rejected(token, now=NOW)


def test_given_token_not_yet_valid_by_nbf_when_verified_then_invalid_token():
    _assert_rejected(jwt.encode(_claims(nbf=NOW + 60), SECRET, algorithm="HS256"))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud", "typ"])
def test_given_token_missing_required_claim_when_verified_then_invalid_token(claim):
    _assert_rejected(jwt.encode(_claims(**{claim: None}), SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"aud": ["pixelflow-api", "another-api"]},
        {"typ": "refresh"},
        {"typ": "Access"},
        {"sub": ""},
        {"sub": 12345},
        {"exp": str(NOW + 900)},
        {"exp": float(NOW + 900)},
        {"exp": True},
        {"iat": "now"},
    ],
    ids=lambda overrides: "-".join(f"{key}={value!r}" for key, value in overrides.items()),
)
def test_given_token_with_wrong_claim_when_verified_then_invalid_token(overrides):
    _assert_rejected(jwt.encode(_claims(**overrides), SECRET, algorithm="HS256"))


def test_given_token_for_other_issuer_settings_when_verified_then_invalid_token():
    token, _ = issue_access_token(TokenSettings(secret=SECRET, issuer="staging"), USER_ID, now=NOW)
    _assert_rejected(token)


def test_given_settings_when_printed_then_secret_is_hidden():
    assert SECRET not in repr(SETTINGS)


@pytest.mark.parametrize(
    "kwargs",
    [{"secret": ""}, {"secret": SECRET, "algorithm": "RS256"}, {"secret": SECRET, "algorithm": "none"},
     {"secret": SECRET, "access_ttl_seconds": 0}],
)
def test_given_unusable_settings_when_built_then_value_error(kwargs):
    with pytest.raises(ValueError):
        TokenSettings(**kwargs)


# --- refresh tokens ------------------------------------------------------------------------


def test_given_new_refresh_tokens_when_generated_then_url_safe_256_bits_and_unique():
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100
    alphabet = set(string.ascii_letters + string.digits + "-_")
    for token in tokens:
        assert len(token) == 43  # 32 bytes in unpadded base64
        assert set(token) <= alphabet


def test_given_refresh_token_when_hashed_then_sha256_hex_and_deterministic():
    token = new_refresh_token()
    digest = hash_refresh_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert digest == hash_refresh_token(token)
    assert len(digest) == 64 and token not in digest
    assert hash_refresh_token(new_refresh_token()) != digest


# --- signing secret ------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", None, "short", "x" * 31, "é" * 15])
def test_given_weak_secret_outside_local_when_checked_then_value_error_naming_jwt_secret(secret):
    with pytest.raises(ValueError) as caught:
        check_secret(secret, stage="prod")
    assert "JWT_SECRET" in str(caught.value)
    if secret:
        assert secret not in str(caught.value)


def test_given_a_weak_webhook_signing_key_outside_local_when_checked_then_the_error_names_it():
    with pytest.raises(ValueError) as caught:
        check_secret("short", stage="prod", name="WEBHOOK_SIGNING_KEY")
    assert "WEBHOOK_SIGNING_KEY must be at least 32 bytes" in str(caught.value) and "short" not in str(caught.value)


@pytest.mark.parametrize("secret", ["x" * 32, "é" * 16, SECRET])
def test_given_secret_of_32_bytes_or_more_when_checked_then_returned(secret):
    assert check_secret(secret, stage="prod") == secret
    assert check_secret(secret, stage="local") == secret


@pytest.mark.parametrize("secret", ["", None])
def test_given_empty_secret_on_local_when_checked_then_random_secret_and_warning(secret, caplog):
    with caplog.at_level(logging.WARNING, logger="functions.auth.tokens"):
        first = check_secret(secret, stage="local")
        second = check_secret(secret, stage="local")
    assert len(first.encode()) >= 32 and first != second
    assert "JWT_SECRET" in caplog.text
    assert first not in caplog.text and second not in caplog.text


def test_given_short_secret_on_local_when_checked_then_kept_with_warning_not_showing_it(caplog):
    with caplog.at_level(logging.WARNING, logger="functions.auth.tokens"):
        assert check_secret("dev-secret", stage="local") == "dev-secret"
    assert "JWT_SECRET" in caplog.text and "dev-secret" not in caplog.text


# --- throttle ------------------------------------------------------------------------------

POLICY = FailurePolicy()


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (1, 0), (4, 0), (5, 30), (6, 60), (7, 120), (8, 240), (9, 480), (10, 900), (11, 900)],
)
def test_given_failures_when_lockout_computed_then_free_then_doubling_then_capped(failures, seconds):
    assert lockout_seconds(POLICY, failures) == seconds


@pytest.mark.parametrize("failures", [100, 10_000, 10**12])
def test_given_stranger_hammering_account_when_lockout_computed_then_never_beyond_cap(failures):
    assert lockout_seconds(POLICY, failures) == POLICY.max_delay_seconds
    assert retry_after(POLICY, failures, last_failure_at=NOW, now=NOW) == POLICY.max_delay_seconds


def test_given_custom_policy_when_lockout_computed_then_follows_it():
    policy = FailurePolicy(free_attempts=3, base_delay_seconds=10, max_delay_seconds=50, window_seconds=60)
    assert [lockout_seconds(policy, n) for n in range(2, 8)] == [0, 10, 20, 40, 50, 50]


@pytest.mark.parametrize(
    ("failures", "elapsed", "expected"),
    [
        (0, 0, 0),
        (4, 0, 0),
        (5, 0, 30),
        (5, 10, 20),
        (5, 29.5, 1),  # rounded up, never invites a retry that is still too early
        (5, 30, 0),
        (5, 31, 0),
        (7, 100, 20),
        (20, 600, 300),
    ],
)
def test_given_recent_failures_when_retry_after_asked_then_remaining_wait(failures, elapsed, expected):
    assert retry_after(POLICY, failures, last_failure_at=NOW, now=NOW + elapsed) == expected


def test_given_clock_behind_last_failure_when_retry_after_asked_then_wait_not_beyond_lockout():
    assert retry_after(POLICY, 5, last_failure_at=NOW, now=NOW - 120) == 30


def test_given_failures_older_than_window_when_checked_then_counter_expired_and_no_wait():
    policy = FailurePolicy(max_delay_seconds=3600, window_seconds=900)
    assert counter_expired(policy, NOW, NOW + 900) is False
    assert counter_expired(policy, NOW, NOW + 901) is True
    assert retry_after(policy, 50, last_failure_at=NOW, now=NOW + 901) == 0


def test_given_no_failure_recorded_when_checked_then_counter_expired():
    assert counter_expired(POLICY, None, NOW) is True
    assert retry_after(POLICY, 0, last_failure_at=None, now=NOW) == 0


# --- sessions in access tokens -------------------------------------------------------------

SESSION_ID = "0f1e2d3c-4b5a-4968-8776-655443322110"


def test_given_a_session_when_issuing_then_the_token_names_it_and_verifying_returns_it():
    from functions.auth.tokens import verify_access_claims

    token, _ = issue_access_token(SETTINGS, USER_ID, session_id=SESSION_ID, now=NOW)
    assert jwt.decode(token, options={"verify_signature": False})["sid"] == SESSION_ID
    claims = verify_access_claims(SETTINGS, token, now=NOW)
    assert (claims.user_id, claims.session_id) == (USER_ID, SESSION_ID)
    assert verify_access_token(SETTINGS, token, now=NOW) == USER_ID


def test_given_a_token_without_a_session_when_verifying_then_its_session_is_none():
    from functions.auth.tokens import verify_access_claims

    token, _ = issue_access_token(SETTINGS, USER_ID, now=NOW)
    assert verify_access_claims(SETTINGS, token, now=NOW).session_id is None


@pytest.mark.parametrize("overrides", [
    {"sub": "not-a-uuid"}, {"sub": "1"}, {"sub": "x" * 100}, {"sub": 42},
    {"sid": "not-a-uuid"}, {"sid": 7}, {"sid": ""},
])
def test_given_a_signed_token_whose_ids_are_not_uuids_when_verifying_then_invalid_token(overrides):
    claims = {"sub": USER_ID, "iat": NOW, "exp": NOW + 60, "iss": SETTINGS.issuer, "aud": SETTINGS.audience,
              "typ": "access", **overrides}
    _assert_rejected(jwt.encode(claims, SECRET, algorithm="HS256"))


# --- the authorizer's memory of revoked sessions ---------------------------------------------


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_given_a_live_session_when_the_window_passes_then_the_cache_asks_again():
    from functions.auth.revocations import RevocationCache

    clock = _Clock()
    cache = RevocationCache(ttl_seconds=60, clock=clock)
    assert cache.get(SESSION_ID) is None
    cache.put(SESSION_ID, False)
    clock.now = 59.9
    assert cache.get(SESSION_ID) is False
    clock.now = 60.0
    assert cache.get(SESSION_ID) is None


def test_given_a_revoked_session_then_the_cache_keeps_refusing_it_and_a_zero_window_always_asks():
    from functions.auth.revocations import RevocationCache

    clock = _Clock()
    cache = RevocationCache(ttl_seconds=60, clock=clock)
    cache.mark_revoked([SESSION_ID])
    clock.now = 10_000
    assert cache.get(SESSION_ID) is True
    never = RevocationCache(ttl_seconds=0, clock=clock)
    never.put(SESSION_ID, False)
    assert never.get(SESSION_ID) is None


def test_given_a_read_that_began_before_a_logout_when_it_lands_after_then_the_session_stays_revoked():
    from functions.auth.revocations import RevocationCache

    cache = RevocationCache(ttl_seconds=60, clock=_Clock())
    cache.mark_revoked([SESSION_ID])  # this process signed the session out ...
    cache.put(SESSION_ID, False)      # ... while another request's database read was still in flight
    assert cache.get(SESSION_ID) is True


def test_given_more_sessions_than_the_cap_then_the_oldest_are_forgotten():
    from functions.auth.revocations import RevocationCache

    cache = RevocationCache(ttl_seconds=60, max_entries=3)
    for number in range(5):
        cache.put(str(number), False)
    assert [cache.get(str(number)) for number in range(5)] == [None, None, False, False, False]


# --- the bound on concurrent hashes ----------------------------------------------------------


def test_given_memory_budgets_then_slots_are_whole_19_mib_hashes_and_never_zero():
    assert passwords.slots_for_memory(128) == 6
    assert passwords.slots_for_memory(19) == 1
    assert passwords.slots_for_memory(1) == 1


def test_given_a_full_gate_when_another_hash_is_asked_then_throttled_with_retry_after():
    from functions.errors import Throttled

    gate = passwords.HashGate(1, wait_seconds=0)
    with gate._slot():
        with pytest.raises(Throttled) as busy:
            gate.verify_password("$argon2id$not-a-hash", "whatever password")
    assert busy.value.retry_after >= 1 and busy.value.code == "server_busy"
    assert gate.refused == 1 and gate.max_in_flight == 1
    assert gate.verify_password("$argon2id$not-a-hash", "whatever password") is False
    assert gate.checks == 1


def test_given_an_invalid_password_when_hashing_through_the_gate_then_refused_before_taking_a_slot():
    gate = passwords.HashGate(1)
    with pytest.raises(InvalidInput):
        gate.hash_password("short")
    assert gate.max_in_flight == 0


@pytest.mark.parametrize("seen, counted_as", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),  # the same subscriber's next address: the same counter
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("not an address", "not an address"),
])
def test_given_a_source_address_then_the_per_address_limit_counts_ipv6_by_its_64(seen, counted_as):
    from functions.accounts import address_key

    assert address_key(seen) == counted_as
