"""Small helpers the integration tests share: unique accounts and authenticated calls."""

import time
import uuid

import requests

PASSWORD = "correct horse battery staple"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def sign_up(base_url: str, email: str = None, password: str = PASSWORD) -> dict:
    """Register and log in a fresh user; return the login answer plus the email."""
    email = email or new_email()
    registered = requests.post(f"{base_url}/auth/register", json={"email": email, "password": password}, timeout=10)
    assert registered.status_code == 201, registered.text
    tokens = requests.post(f"{base_url}/auth/login", json={"email": email, "password": password}, timeout=10)
    assert tokens.status_code == 200, tokens.text
    return {**tokens.json(), "email": email, "user": registered.json()["user"]}


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; return that value (or the last falsy one)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
