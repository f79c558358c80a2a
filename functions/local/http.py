"""Chalice's local HTTP server, with API Gateway's answer to a failing authorizer and its limits.

On AWS, a Lambda authorizer that fails with "Unauthorized" makes API Gateway answer 401
(the gateway response UNAUTHORIZED, which the template gives pixelflow's error body).
``chalice local`` has no such path (an exception there is a 500), so this module adds it.
It also does what API Gateway does before a request reaches the app: refuse a body over
10 MB (413), and pass the client's real address as ``requestContext.identity.sourceIp``.

``chalice local`` starts a thread per connection and listens with a backlog of 5, so a
burst of clients is refused at the socket. Here a listen backlog of 1024 holds the burst
and a fixed pool of worker threads serves it: threads, database connections and memory
stay bounded however many clients come.
"""

import concurrent.futures
import io
import json
import socket
import threading
import time
from http.server import HTTPServer

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    LocalGatewayAuthorizer,
    LocalGatewayException,
    NotAuthorizedError,
)

from functions.errors import UNAUTHORIZED_BODY, UNAVAILABLE_BODY, Unauthorized, Unavailable

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
WORKERS = 32  # connections served at once; the rest wait in the listen backlog
LISTEN_BACKLOG = 1024  # the kernel caps it at net.core.somaxconn
IDLE_SECONDS = 15
# The whole of a request's headers and body must arrive within this, however slowly it trickles:
# a per-read timeout alone lets a client that sends a byte every few seconds hold a worker forever.
READ_SECONDS = 10


class AuthorizerUnavailable(LocalGatewayException):
    """The authorizer could not reach the database (paused, restarting): 503 with Retry-After."""

    CODE = 503


class _Authorizer(LocalGatewayAuthorizer):
    def authorize(self, raw_path, lambda_event, lambda_context):
        try:
            return super().authorize(raw_path, lambda_event, lambda_context)
        except NotAuthorizedError:
            raise NotAuthorizedError(self._headers(lambda_context), UNAUTHORIZED_BODY.encode()) from None
        except Unauthorized:
            raise NotAuthorizedError(self._headers(lambda_context), UNAUTHORIZED_BODY.encode()) from None
        except Unavailable as error:
            # API Gateway's authorizer-failure gateway responses say the same (infra/template.py).
            headers = {**self._headers(lambda_context), "x-amzn-ErrorType": "AuthorizerFailure",
                       "Retry-After": str(int(error.retry_after or Unavailable.DEFAULT_RETRY_AFTER))}
            raise AuthorizerUnavailable(headers, UNAVAILABLE_BODY.encode()) from None

    @staticmethod
    def _headers(lambda_context):
        return {"x-amzn-RequestId": lambda_context.aws_request_id,
                "x-amzn-ErrorType": "UnauthorizedException",
                "Content-Type": "application/json"}


class Gateway(LocalGateway):
    def __init__(self, app_object, config):
        super().__init__(app_object, config)
        self._authorizer = _Authorizer(app_object)


class _Handler(ChaliceRequestHandler):
    # One request per connection: an idle keep-alive connection (browsers keep several, and a
    # client may hold one it no longer uses) would otherwise hold a pooled worker while it waits.
    protocol_version = "HTTP/1.0"
    timeout = IDLE_SECONDS  # a client that connects and sends nothing gives its worker back

    def __init__(self, request, client_address, server, app_object, config):
        self.local_gateway = Gateway(app_object, config)
        # chalice.local says 127.0.0.1 for everyone; API Gateway gives the client's address.
        self.local_gateway.event_converter.LOCAL_SOURCE_IP = client_address[0]
        # Skip ChaliceRequestHandler.__init__, which would build a plain LocalGateway.
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def _generic_handle(self):
        raw_length = self.headers.get("content-length", "0")
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            return self._refuse(400, "bad_request", "Content-Length is not a number of bytes.")
        if length > MAX_BODY_BYTES:
            return self._refuse(413, "body_too_large",
                                f"The request body is over {MAX_BODY_BYTES // (1024 * 1024)} MB.")
        # Read the body here, under the read deadline; the app then reads it from memory.
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return None  # the client went away, or its time to send the request ran out
        self.rfile = io.BytesIO(body)
        self.server.reading_done(self.connection)
        return super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _refuse(self, status, code, message):
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        # The unread body stays in the socket, so this connection cannot carry another request.
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # quiet by default; tokens never appear in paths anyway
        pass


class _PooledServer(HTTPServer):
    """An HTTPServer that serves each connection on a fixed pool of threads."""

    request_queue_size = LISTEN_BACKLOG
    allow_reuse_address = True

    def __init__(self, address, handler):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="http")
        self._free_workers = threading.BoundedSemaphore(WORKERS)
        self._stopping = threading.Event()
        self._reading = {}  # connection -> when its request must have arrived
        self._reading_lock = threading.Lock()
        super().__init__(address, handler)
        threading.Thread(target=self._cut_slow_readers, name="http-deadlines", daemon=True).start()

    def get_request(self):
        # Accept the next connection only once a worker is free: until then clients wait in the
        # kernel's listen backlog, so open sockets stay bounded too. Never wait past a shutdown.
        while not self._free_workers.acquire(timeout=0.5):
            if self._stopping.is_set():
                raise OSError("the server is stopping")
        try:
            request, address = super().get_request()
        except BaseException:
            self._free_workers.release()
            raise
        with self._reading_lock:
            self._reading[request] = time.monotonic() + READ_SECONDS
        return request, address

    def reading_done(self, connection):
        """The request on ``connection`` has arrived whole: its read deadline no longer applies."""
        with self._reading_lock:
            self._reading.pop(connection, None)

    def _cut_slow_readers(self):
        while not self._stopping.wait(0.5):
            now = time.monotonic()
            with self._reading_lock:
                late = [connection for connection, deadline in self._reading.items() if deadline < now]
                for connection in late:
                    del self._reading[connection]
            for connection in late:
                try:
                    connection.shutdown(socket.SHUT_RDWR)  # its worker's blocked read returns at once
                except OSError:
                    pass

    def shutdown(self):
        self._stopping.set()
        super().shutdown()

    def process_request(self, request, client_address):
        try:
            self._pool.submit(self._serve, request, client_address)
        except BaseException:
            self._free_workers.release()
            raise

    def _serve(self, request, client_address):
        # What socketserver.ThreadingMixIn.process_request_thread does, on a pooled thread.
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.reading_done(request)
            self.shutdown_request(request)
            self._free_workers.release()

    def server_close(self):
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class LocalServer:
    """Serves a Chalice app on host:port in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8000, stage: str = "local"):
        if not isinstance(app, LocalChalice):
            # As `chalice local` does: keep current_request per thread, since requests run on threads.
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        config = Config(chalice_stage=stage, config_from_disk={}, user_provided_params={})
        self.server = LocalDevServer(app, config, host, port, handler_cls=_Handler, server_cls=_PooledServer)
        self.url = f"http://{host}:{self.server.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> "LocalServer":
        self._thread = threading.Thread(target=self.server.server.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.server.shutdown()
        self.server.server.server_close()
        if self._thread:
            self._thread.join(5)
