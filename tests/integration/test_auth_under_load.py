"""Sign-in under bursts and abuse, through the real HTTP server and the embedded PostgreSQL.

Counts come from the throttle's own rows and the password gate's counters, never from timings.
"""

import concurrent.futures
import socket
import threading
import urllib.parse
import uuid

import pytest
import requests

from functions import accounts, wiring
from functions.auth import passwords
from functions.errors import Throttled, Unauthorized
from tests.integration.helpers import PASSWORD, new_email, sign_up

BURST = 200


@pytest.fixture
def fresh_source_counter(server):
    """Every test client is 127.0.0.1: start and leave its per-address counter at zero."""
    db = wiring.database()
    db.execute("DELETE FROM login_sources WHERE source_ip = '127.0.0.1'")
    yield
    db.execute("DELETE FROM login_sources WHERE source_ip = '127.0.0.1'")


def _burst(count, call):
    """Run ``call(i)`` from ``count`` threads released at the same moment; return the results."""
    start = threading.Barrier(count)

    def one(index):
        start.wait()
        return call(index)

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def _login(server, email, password):
    try:
        return requests.post(f"{server.url}/auth/login", json={"email": email, "password": password}, timeout=60)
    except requests.ConnectionError as error:
        return error


def test_given_200_concurrent_wrong_passwords_for_one_account_then_at_most_the_free_attempts_are_checked(
        server, fresh_source_counter):
    victim = sign_up(server.url)
    gate = wiring.password_gate()
    gate.reset_counters()

    answers = _burst(BURST, lambda _: _login(server, victim["email"], "not the password at all"))

    refused = [answer for answer in answers if isinstance(answer, Exception)]
    assert refused == []
    statuses = sorted({answer.status_code for answer in answers})
    assert set(statuses) <= {401, 429}, statuses
    assert gate.checks <= accounts.POLICY.free_attempts
    assert sum(answer.status_code == 401 for answer in answers) == gate.checks
    counted = wiring.database().one("SELECT failures FROM login_failures WHERE email_normalized = :e",
                                    e=victim["email"])
    assert counted["failures"] == accounts.POLICY.free_attempts
    throttled = [answer for answer in answers if answer.status_code == 429]
    assert all(answer.json()["error"]["code"] == "too_many_attempts" for answer in throttled)
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in throttled)


def test_given_a_burst_of_logins_for_unknown_addresses_then_concurrent_hashes_stay_within_the_gate(
        server, fresh_source_counter):
    gate = wiring.password_gate()
    gate.reset_counters()

    answers = _burst(BURST, lambda _: _login(server, new_email(), PASSWORD))

    assert [answer for answer in answers if isinstance(answer, Exception)] == []
    assert {answer.status_code for answer in answers} <= {401, 429}
    # Each hash holds 19 MiB: memory is bounded by the gate, not by the size of the burst.
    assert gate.checks >= 1
    assert gate.max_in_flight <= gate.slots == passwords.slots_for_memory(
        wiring.settings().password_hash_memory_mib)
    unknown = [answer.json() for answer in answers if answer.status_code == 401]
    assert all(body["error"]["code"] == "invalid_credentials" for body in unknown)


def test_given_concurrent_registrations_when_hashing_then_at_most_the_gate_slots_run_at_once(stack):
    gate = passwords.HashGate(2)
    db = wiring.database()

    _burst(12, lambda _: accounts.register(db, new_email(), PASSWORD, gate=gate))

    assert 1 <= gate.max_in_flight <= 2


def test_given_no_free_hash_slot_when_logging_in_then_429_busy_and_the_attempt_does_not_count(stack):
    db = wiring.database()
    email = new_email()
    accounts.register(db, email, PASSWORD)
    gate = passwords.HashGate(1, wait_seconds=0)

    with gate._slot():  # another sign-in holds the only slot
        with pytest.raises(Throttled) as busy:
            accounts.login(db, wiring.token_settings(), email, PASSWORD, refresh_ttl=60,
                           source_ip="198.51.100.20", gate=gate)

    assert busy.value.code == "server_busy" and busy.value.retry_after >= 1
    assert db.one("SELECT failures FROM login_failures WHERE email_normalized = :e", e=email)["failures"] == 0
    assert db.one("SELECT failures FROM login_sources WHERE source_ip = '198.51.100.20'")["failures"] == 0
    assert accounts.login(db, wiring.token_settings(), email, PASSWORD, refresh_ttl=60, gate=gate).access_token


def test_given_one_address_spraying_many_accounts_then_it_is_stopped_at_its_limit_and_others_are_not(stack):
    db = wiring.database()
    sprayer, bystander = f"203.0.113.{uuid.uuid4().int % 250 + 1}", "192.0.2.77"
    db.execute("DELETE FROM login_sources WHERE source_ip IN (:a, :b)", a=sprayer, b=bystander)
    owner = new_email()
    accounts.register(db, owner, PASSWORD)

    def attempt(email, password, source_ip):
        return accounts.login(db, wiring.token_settings(), email, password, refresh_ttl=60,
                              source_ip=source_ip, address_limit=3)

    for _ in range(3):  # one guess each at three accounts: within every per-account limit
        with pytest.raises(Unauthorized):
            attempt(new_email(), "guess number one", sprayer)
    fourth = new_email()
    with pytest.raises(Throttled) as stopped:
        attempt(fourth, "guess number one", sprayer)
    assert stopped.value.code == "too_many_attempts_from_address"
    assert 1 <= stopped.value.retry_after <= accounts.POLICY.window_seconds
    assert db.one("SELECT failures FROM login_sources WHERE source_ip = :ip", ip=sprayer)["failures"] == 3
    # The refused attempt checked no password, so it does not count against the account it named.
    assert db.one("SELECT failures FROM login_failures WHERE email_normalized = :e", e=fourth)["failures"] == 0
    # Another address signs in; a success gives back what it counted.
    assert attempt(owner, PASSWORD, bystander).access_token
    assert db.one("SELECT failures FROM login_sources WHERE source_ip = :ip", ip=bystander)["failures"] == 0


def test_given_a_failed_login_over_http_then_it_counts_against_the_clients_address(server, fresh_source_counter):
    answer = _login(server, new_email(), PASSWORD)
    assert answer.status_code == 401
    row = wiring.database().one("SELECT failures FROM login_sources WHERE source_ip = '127.0.0.1'")
    assert row["failures"] == 1


def test_given_200_concurrent_clients_then_the_local_server_answers_every_one(server):
    address = urllib.parse.urlsplit(server.url)

    def call(_):
        # A raw socket each, so all 200 connect at the same instant (as a burst of browsers would).
        try:
            with socket.create_connection((address.hostname, address.port), timeout=60) as connection:
                connection.sendall(b"GET /auth/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := connection.recv(65536):
                    answer += chunk
            return answer.split(b" ", 2)[1].decode() if answer else "no answer"
        except OSError as error:
            return repr(error)

    answers = _burst(BURST, call)

    assert answers == ["401"] * BURST


@pytest.mark.parametrize("failures", [0, 4, 5, 6, 9, 40])
@pytest.mark.parametrize("elapsed", [0, 29, 31, 61, 899, 901])
def test_given_a_counter_then_the_sql_check_agrees_with_the_throttle_policy(stack, failures, elapsed):
    from functions.auth import throttle

    db = wiring.database()
    email, now = new_email(), 1_900_000_000.0
    db.execute("INSERT INTO login_failures (email_normalized, failures, last_failure_at)"
               " VALUES (:e, :n, to_timestamp(:at))", e=email, n=failures, at=now - elapsed)

    allowed = accounts._count_account_attempt(db, email, now)

    assert allowed == (throttle.retry_after(accounts.POLICY, failures, now - elapsed, now) == 0)
