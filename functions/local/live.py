"""API Gateway's WebSocket API on one machine: the app's own WebSocket handlers behind `websockets`.

A client connects to ``ws://host:port/?ticket=...``; each connection gets an API-Gateway-style id,
and the app's ``$connect`` / ``$default`` / ``$disconnect`` handlers are called with
API-Gateway-shaped events (a ``$connect`` answer other than 200 refuses the handshake with 403).
Beside it, a small HTTP server answers the Management API's ``@connections`` calls
(POST sends, GET describes, DELETE closes; 410 for an unknown connection), which the app makes
through boto3 with ``LIVE_ENDPOINT_URL`` pointing here. Nothing in the app knows it is local.
That server has no authentication (anyone reaching it could write to or close any connection),
so it listens on 127.0.0.1 only, whatever host the WebSocket side is given: the app and its
workers run on this machine (in this container) and reach it there.

A client that does not read is not waited for: a send that cannot be handed to its socket within
``send_timeout`` closes that connection (1008) and the caller gets 410, as for any gone connection.
"""

import asyncio
import base64
import datetime
import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from chalice.app import WebsocketEvent, WebsocketEventSourceHandler

from functions.local.runner import LambdaContext

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 32 * 1024  # API Gateway's WebSocket frame limit
STAGE = "api"
API_ID = "local"
HANDLER_SECONDS = 10  # the WebSocket routes' timeout in infra/resources.json (live_connect, live_message, ...)


MANAGEMENT_HOST = "127.0.0.1"
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def url_host(host: str) -> str:
    """``host`` as this machine reaches it in a URL: a wildcard address becomes loopback, IPv6 gets brackets."""
    host = _WILDCARDS.get(host, host)
    return f"[{host}]" if ":" in host else host


def _now_ms() -> int:
    return int(time.time() * 1000)


def _handler(app, route: str):
    """The app's handler for ``route`` wrapped as Lambda calls it (what `chalice package` deploys)."""
    config = app.websocket_handlers.get(route)
    if config is None:
        return None
    middleware = app._get_middleware_handlers(event_type="websocket")
    return WebsocketEventSourceHandler(config.handler_function, WebsocketEvent, app.websocket_api,
                                       middleware_handlers=middleware)


class LocalWebsocketGateway:
    """The WebSocket API on ``host`` and its management endpoint on 127.0.0.1, each on a port of its own.

    ``url`` is where this machine reaches the WebSocket (a wildcard ``host`` is reached on loopback);
    browsers elsewhere may need another address (serve's ``LIVE_SOCKET_URL``)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, management_port: int = 0, *,
                 send_timeout: float = 1.0, handler_threads: int = 8):
        self._app = app
        self._host, self._port, self._management_port = host, port, management_port
        self._send_timeout = send_timeout
        self._handlers = {route: _handler(app, route) for route in ("$connect", "$default", "$disconnect")}
        self._calls = ThreadPoolExecutor(handler_threads, thread_name_prefix="ws-handler")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._management: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: dict[str, Any] = {}       # connection id -> open websocket
        self._meta: dict[str, dict[str, Any]] = {}
        self._ids: dict[int, str] = {}           # id(handshake connection) -> connection id
        self.url = self.management_url = ""

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> "LocalWebsocketGateway":
        ready = threading.Event()
        thread = threading.Thread(target=self._run_loop, args=(ready,), name="ws-gateway", daemon=True)
        thread.start()
        if not ready.wait(10) or self._server is None:
            raise RuntimeError("the local WebSocket gateway did not start")
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://{url_host(self._host)}:{port}"
        # What Chalice's wrapper would derive from apiId and AWS_REGION (which Lambda sets): this gateway.
        self._app.websocket_api.configure(f"{url_host(self._host)}:{port}", STAGE)
        # Loopback only, whatever the WebSocket side's host: it takes unauthenticated sends and closes.
        self._management = ThreadingHTTPServer((MANAGEMENT_HOST, self._management_port), self._management_handler())
        self._management.daemon_threads = True
        self.management_url = f"http://{MANAGEMENT_HOST}:{self._management.server_address[1]}"
        management = threading.Thread(target=self._management.serve_forever, name="ws-management", daemon=True)
        management.start()
        self._threads += [thread, management]
        return self

    def stop(self) -> None:
        if self._management:
            self._management.shutdown()
            self._management.server_close()
        if self._loop and self._server:
            async def close():
                self._server.close()
                await self._server.wait_closed()
            try:
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(15)
            except Exception:
                log.warning("the local WebSocket gateway did not close cleanly", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
        for thread in self._threads:
            thread.join(5)
        self._calls.shutdown(wait=True)

    def _run_loop(self, ready: threading.Event) -> None:
        from websockets.asyncio.server import serve

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def begin():
            self._server = await serve(self._session, self._host, self._port, process_request=self._on_handshake,
                                       max_size=MAX_FRAME_BYTES, compression=None, server_header=None)
        try:
            loop.run_until_complete(begin())
        finally:
            ready.set()
        loop.run_forever()
        loop.close()

    # --- calling the app -----------------------------------------------------------------

    def _event(self, route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        meta = self._meta.get(connection_id, {})
        context = {
            "routeKey": route, "eventType": event_type, "connectionId": connection_id,
            "messageDirection": "IN", "apiId": API_ID, "stage": STAGE,
            "domainName": f"{url_host(self._host)}:{self._server.sockets[0].getsockname()[1]}",
            "requestId": secrets.token_urlsafe(12), "extendedRequestId": secrets.token_urlsafe(12),
            "requestTimeEpoch": _now_ms(), "requestTime": datetime.datetime.now(datetime.UTC).strftime(
                "%d/%b/%Y:%H:%M:%S +0000"),
            "connectedAt": meta.get("connected_at", _now_ms()),
            "identity": {"sourceIp": meta.get("source_ip", "127.0.0.1"), "userAgent": meta.get("user_agent")},
        }
        if event_type == "MESSAGE":
            context["messageId"] = secrets.token_urlsafe(12)
        event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
        event.update(extra)
        return event

    async def _call(self, route: str, event: dict[str, Any]) -> dict[str, Any] | None:
        handler = self._handlers.get(route)
        if handler is None:
            return {"statusCode": 200}
        loop = asyncio.get_running_loop()
        try:
            context = LambdaContext(f"ws{route}", HANDLER_SECONDS)
            return await loop.run_in_executor(self._calls, handler, event, context)
        except Exception:
            log.exception("the app's %s handler failed", route)
            return None

    # --- WebSocket side ------------------------------------------------------------------

    async def _on_handshake(self, connection, request):

        connection_id = base64.b64encode(secrets.token_bytes(10)).decode("ascii")
        query = parse_qs(urlsplit(request.path).query)
        headers = {name: value for name, value in request.headers.raw_items()}
        peer = connection.remote_address[0] if connection.remote_address else "127.0.0.1"
        self._meta[connection_id] = {"connected_at": _now_ms(), "last_active": _now_ms(), "source_ip": peer,
                                     "user_agent": request.headers.get("User-Agent")}
        event = self._event("$connect", connection_id, headers=headers,
                            multiValueHeaders={name: request.headers.get_all(name) for name in headers},
                            queryStringParameters={name: values[-1] for name, values in query.items()} or None,
                            multiValueQueryStringParameters=query or None)
        answer = await self._call("$connect", event)
        status = (answer or {}).get("statusCode", 500)
        if status != 200:
            self._meta.pop(connection_id, None)
            # As API Gateway: the handshake gets the handler's status (500 when it failed).
            return connection.respond(403 if status in (401, 403) else status if 400 <= status < 600 else 500,
                                      "Forbidden\n" if status in (401, 403) else "Refused\n")
        self._ids[id(connection)] = connection_id
        return None

    async def _session(self, websocket) -> None:
        connection_id = self._ids.pop(id(websocket))
        self._sockets[connection_id] = websocket
        try:
            async for frame in websocket:
                self._meta[connection_id]["last_active"] = _now_ms()
                if isinstance(frame, bytes):
                    body, encoded = base64.b64encode(frame).decode("ascii"), True
                else:
                    body, encoded = frame, False
                await self._call("$default", self._event("$default", connection_id, body=body,
                                                         isBase64Encoded=encoded))
        except Exception as error:  # a protocol error or an oversized frame ends this connection only
            log.info("live connection %s ended: %s", connection_id, error.__class__.__name__)
        finally:
            self._sockets.pop(connection_id, None)
            code = websocket.close_code or 1006
            await self._call("$disconnect", self._event("$disconnect", connection_id,
                                                        headers={}, disconnectStatusCode=code))
            self._meta.pop(connection_id, None)

    async def _send(self, connection_id: str, data: bytes) -> bool:
        websocket = self._sockets.get(connection_id)
        if websocket is None:
            return False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            await asyncio.wait_for(websocket.send(text if text is not None else data), self._send_timeout)
        except TimeoutError:
            # A client that does not read: drop it rather than let it hold up anyone's pushes.
            log.info("live connection %s does not read; closing it", connection_id)
            self._sockets.pop(connection_id, None)
            websocket.transport.abort() if websocket.transport else None
            return False
        except Exception:
            self._sockets.pop(connection_id, None)
            return False
        return True

    async def _close(self, connection_id: str) -> bool:
        websocket = self._sockets.pop(connection_id, None)
        if websocket is None:
            return False
        await websocket.close(1000, "closed by the server")
        return True

    # --- management side -----------------------------------------------------------------

    def _run(self, coroutine, timeout: float):
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _management_handler(self):
        gateway = self

        class Management(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 (the base class's name)
                pass

            def _connection_id(self) -> str | None:
                path = urlsplit(self.path).path
                prefix = "/@connections/"
                if f"/{STAGE}/@connections/" in path:
                    path = path.split(f"/{STAGE}", 1)[1]
                return unquote(path[len(prefix):]) if path.startswith(prefix) else None

            def _answer(self, status: int, body: dict[str, Any] | None = None, error: str | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error:
                    self.send_header("x-amzn-ErrorType", error)  # how boto3 names the exception it raises
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _gone(self) -> None:
                self._answer(410, {"message": "The connection is gone."}, "GoneException")

            def do_POST(self):  # noqa: N802 (the base class's name)
                connection_id = self._connection_id()
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                if connection_id is None:
                    return self._answer(404, {"message": "Not Found"}, "NotFoundException")
                if len(data) > 128 * 1024:
                    return self._answer(413, {"message": "The message is larger than 128 KB."},
                                        "PayloadTooLargeException")
                try:
                    sent = gateway._run(gateway._send(connection_id, data), gateway._send_timeout + 2)
                except Exception:
                    sent = False
                return self._answer(200) if sent else self._gone()

            def do_GET(self):  # noqa: N802
                connection_id = self._connection_id()
                meta = gateway._meta.get(connection_id or "")
                if connection_id not in gateway._sockets or meta is None:
                    return self._gone()
                iso = lambda ms: datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat()  # noqa: E731
                return self._answer(200, {"ConnectedAt": iso(meta["connected_at"]),
                                          "LastActiveAt": iso(meta["last_active"]),
                                          "Identity": {"SourceIp": meta["source_ip"],
                                                       "UserAgent": meta["user_agent"]}})

            def do_DELETE(self):  # noqa: N802
                connection_id = self._connection_id()
                try:
                    closed = connection_id is not None and gateway._run(gateway._close(connection_id), 15)
                except Exception:
                    closed = False
                if not closed:
                    return self._gone()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Management
