"""Where the CLI keeps its sessions: per API address, the e-mail and the refresh token.

Access tokens live in memory only. The file is written atomically with mode 0600 inside a 0700
folder, and every refresh happens under a file lock, because refresh tokens rotate on every use
and two commands refreshing the same token at once would sign the session out.
"""

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; parallel commands may then race a refresh
    fcntl = None  # type: ignore[assignment]

DEFAULT_API = "http://127.0.0.1:8000"


def config_dir() -> Path:
    """The user's config folder for pixelflow (XDG_CONFIG_HOME is honoured on Linux)."""
    return Path(platformdirs.user_config_dir("pixelflow", appauthor=False))


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def load() -> dict[str, Any]:
    """Everything stored: ``{"api": default address, "sessions": {address: {email, refresh_token}}}``."""
    try:
        data = json.loads(credentials_path().read_text())
    except (FileNotFoundError, ValueError):
        return {"api": None, "sessions": {}}
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), dict):
        return {"api": None, "sessions": {}}
    return data


def save(data: dict[str, Any]) -> None:
    """Replace the stored file atomically; it is created 0600 so no other user can ever read it."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(prefix=".credentials-", dir=folder)  # mkstemp creates it 0600
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, credentials_path())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def session(api: str) -> dict[str, Any] | None:
    """The stored session for ``api``, if any."""
    found = load()["sessions"].get(normalise(api))
    return found if isinstance(found, dict) and found.get("refresh_token") else None


def store_session(api: str, email: str, refresh_token: str) -> None:
    data = load()
    data["sessions"][normalise(api)] = {"email": email, "refresh_token": refresh_token}
    data["api"] = normalise(api)
    save(data)


def forget_session(api: str) -> bool:
    data = load()
    removed = data["sessions"].pop(normalise(api), None) is not None
    if data.get("api") == normalise(api):
        data["api"] = next(iter(data["sessions"]), None)
    save(data)
    return removed


def default_api() -> str:
    """The address of the last login, else the local default."""
    return load().get("api") or DEFAULT_API


def normalise(api: str) -> str:
    return api.strip().rstrip("/")


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold the session lock (across processes) while a refresh token is read, spent and replaced."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / "credentials.lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
