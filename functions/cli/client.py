"""The pixelflow API over HTTP: one method per route the CLI uses, errors as ``ApiError`` with the API's message.

The access token is kept in memory and renewed from the stored refresh token when it is missing or
refused (401), once per request; threads share it. With ``PIXELFLOW_TOKEN`` the given access token is
used as it is and never renewed.
"""

import threading
from typing import Any

import requests

from functions.cli import config

TIMEOUT = 30


class ApiError(Exception):
    """An answer that is not a success, or no answer: the API's code and sentence."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    @classmethod
    def from_response(cls, response: requests.Response) -> "ApiError":
        try:
            error = response.json()["error"]
            return cls(response.status_code, error["code"], error["message"], error.get("field"))
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, "http_error",
                       f"The API answered {response.status_code} {response.reason or ''}".strip() + ".")


class NotLoggedIn(ApiError):
    def __init__(self, api: str, message: str | None = None):
        super().__init__(401, "not_logged_in",
                         message or f"Not logged in to {api}: run `pixelflow login` (or set PIXELFLOW_TOKEN).")


class Client:
    """Calls to one API address as one user."""

    def __init__(self, api: str, *, access_token: str | None = None):
        self.api = config.normalise(api)
        self._fixed = access_token is not None
        self._access = access_token
        self._lock = threading.Lock()
        self._local = threading.local()

    # --- plumbing ---

    def http(self) -> requests.Session:
        """A requests session of the calling thread (connections are reused, never shared across threads)."""
        if getattr(self._local, "session", None) is None:
            self._local.session = requests.Session()
            self._local.session.headers["User-Agent"] = "pixelflow-cli"
        return self._local.session

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs) -> requests.Response:
        """Send one request; renew the access token once if it is refused; raise ApiError for any error."""
        kwargs.setdefault("timeout", TIMEOUT)
        for attempt in (1, 2):
            headers = dict(kwargs.pop("headers", None) or {})
            token = self._token() if auth else None
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = self.http().request(method, self.api + path, headers=headers, **kwargs)
            except requests.RequestException as error:
                raise ApiError(0, "unreachable", f"Cannot reach the API at {self.api} "
                                                 f"({error.__class__.__name__}).") from None
            if response.status_code == 401 and auth and attempt == 1 and not self._fixed:
                self._renew(stale=token)
                continue
            if response.status_code >= 400:
                raise ApiError.from_response(response)
            return response
        raise AssertionError("unreachable")

    def _token(self) -> str | None:
        with self._lock:
            if self._access is None:
                self._renew_locked()
            return self._access

    def _renew(self, stale: str | None) -> None:
        with self._lock:
            if self._access == stale:  # else another thread renewed it meanwhile
                self._renew_locked()

    def _renew_locked(self) -> None:
        if self._fixed:
            raise ApiError(401, "unauthorized", "The access token in PIXELFLOW_TOKEN was refused (expired?).")
        with config.locked():
            stored = config.session(self.api)
            if stored is None:
                raise NotLoggedIn(self.api)
            try:
                pair = self.request("POST", "/auth/refresh", auth=False,
                                    json={"refresh_token": stored["refresh_token"]}).json()
            except ApiError as error:
                if error.status == 401:
                    config.forget_session(self.api)
                    raise NotLoggedIn(self.api, f"Your session at {self.api} has ended ({error.message}) "
                                                "Run `pixelflow login` again.") from None
                raise
            config.store_session(self.api, stored.get("email", ""), pair["refresh_token"])
            self._access = pair["access_token"]

    # --- sessions ---

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Sign in and keep the refresh token (only) in the config folder."""
        pair = self.request("POST", "/auth/login", auth=False, json={"email": email, "password": password}).json()
        with config.locked():
            config.store_session(self.api, email, pair["refresh_token"])
        self._access = pair["access_token"]
        return pair

    def logout(self) -> None:
        """Revoke the stored session on the server (best effort) and forget it here."""
        with config.locked():
            stored = config.session(self.api)
        if stored is not None and not self._fixed:
            try:
                self._token()  # spends the stored refresh token: the family is what logout revokes
                with config.locked():
                    stored = config.session(self.api) or stored
                self.request("POST", "/auth/logout", json={"refresh_token": stored["refresh_token"]})
            except ApiError:
                pass  # already ended or unreachable: forgetting it here is what matters
        with config.locked():
            config.forget_session(self.api)

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/auth/me").json()["user"]

    # --- images ---

    def create_batch(self, files: list[dict[str, Any]], variants=None) -> dict[str, Any]:
        body: dict[str, Any] = {"files": files}
        if variants:
            body["variants"] = variants
        return self.request("POST", "/batches", json=body).json()

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        return self.request("GET", f"/batches/{batch_id}").json()

    def images(self, *, limit: int = 20, cursor: str | None = None, status: str | None = None,
               sha256: str | None = None) -> dict[str, Any]:
        params = {"limit": limit, "cursor": cursor, "status": status, "sha256": sha256}
        return self.request("GET", "/images", params={k: v for k, v in params.items() if v is not None}).json()

    def image(self, image_id: str) -> dict[str, Any]:
        return self.request("GET", f"/images/{image_id}").json()

    def delete(self, image_id: str) -> None:
        self.request("DELETE", f"/images/{image_id}")

    def download_link(self, image_id: str, variant: str) -> str:
        answer = self.request("GET", f"/images/{image_id}/download", params={"variant": variant},
                              allow_redirects=False)
        return answer.headers["Location"]

    def start_import(self, url: str, variants=None) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url}
        if variants:
            body["variants"] = variants
        return self.request("POST", "/imports", json=body).json()

    def start_generation(self, prompt: str, *, style: str | None, width: int, height: int,
                         variants=None) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": prompt, "width": width, "height": height}
        if style:
            body["style"] = style
        if variants:
            body["variants"] = variants
        return self.request("POST", "/generations", json=body).json()
