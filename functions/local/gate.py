"""The storage gate: what browsers reach instead of the embedded emulator, checking what S3 checks.

Neither emulator checks a presigned POST's signature (LocalStack 3.8 evaluates whatever policy
the client sends; moto checks nothing), so with the emulator alone any signed-in user could
rewrite her upload ticket's policy to name another user's key. The gate, a small reverse
proxy on loopback in front of the emulator, lets through only:

- browser form uploads (POST multipart/form-data to the bucket) whose policy carries a valid
  SigV4 signature and whose conditions (expiry, every field, the file's real length) hold;
- presigned GETs and HEADs whose query signature and expiry are valid (recomputed with
  botocore's own signer);
- CORS preflights (OPTIONS), which the bucket's CORS rule answers.

Everything else is refused with S3's XML error shape. Links are signed with a secret only the
app and the gate hold (``signing_secret``): the emulator's own credentials are well known.
The app's own S3 and SQS calls go straight to the emulator, whose port must stay on loopback.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import re
import secrets
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, unquote_plus, urlsplit
from xml.sax.saxutils import escape

from werkzeug.http import parse_options_header
from werkzeug.sansio import multipart

from functions.local.http import _PooledServer  # the app server's bounded pool and deep backlog

FORM_OVERHEAD_BYTES = 64 * 1024      # form fields and part headers around the file (S3 allows 20 KB of fields)
MAX_FIELDS = 32
READ_BYTES = 32 * 1024              # per read; the decoder buffers at most FORM_OVERHEAD_BYTES
SPOOL_IN_MEMORY_BYTES = 1024 * 1024  # larger files go to a temporary file while they are checked
IDLE_SECONDS = 15                    # a client that sends nothing for this long loses its connection
REQUEST_SECONDS = 120                # the whole body must arrive within this
UPSTREAM_SECONDS = 60
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's own limit on X-Amz-Expires
CLOCK_SKEW = datetime.timedelta(minutes=15)
ALGORITHM = "AWS4-HMAC-SHA256"
FIELD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+/=; -]{0,200}$")
# Fields S3 leaves out of the "every field is covered by a condition" rule.
UNCOVERED_FIELDS = {"policy", "x-amz-signature", "file"}
FORWARDED_HEADERS = ("Origin", "Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
                     "Access-Control-Request-Method", "Access-Control-Request-Headers", "Accept", "User-Agent")
HOP_BY_HOP = {"server", "date", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization", "content-length"}


class Refused(Exception):
    """An S3-shaped refusal: the HTTP status, S3's error code and a sentence."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """SigV4's derived key: HMAC-SHA256 down the chain "AWS4"+secret, date, region, service, aws4_request."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _amz_time(value: str) -> datetime.datetime:
    try:
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        raise Refused(403, "AccessDenied", "X-Amz-Date is not a SigV4 timestamp.") from None


def _scope(credential: str) -> tuple[str, str, str]:
    """(access key, date, region) from ``AKID/YYYYMMDD/region/s3/aws4_request``."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request" or not re.fullmatch(r"\d{8}", parts[1]):
        raise Refused(403, "AccessDenied", "The credential scope is not an S3 SigV4 scope.")
    return parts[0], parts[1], parts[2]


class PostPolicy:
    """A browser form's policy, checked as S3 checks it: signature, expiry, then every condition."""

    def __init__(self, fields: dict[str, str], secret: str, now: datetime.datetime):
        self.fields = fields   # lower-cased names
        self.secret = secret
        self.now = now

    def check_signature(self) -> dict:
        fields = self.fields
        for name in ("policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
            if not fields.get(name):
                raise Refused(403, "AccessDenied", f"The form has no {name} field: only presigned forms are accepted.")
        if fields["x-amz-algorithm"] != ALGORITHM:
            raise Refused(400, "InvalidArgument", f"Only {ALGORITHM} is accepted.")
        _, date, region = _scope(fields["x-amz-credential"])
        key = signing_key(self.secret, date, region)
        expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
            raise Refused(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature you provided.")
        try:
            policy = json.loads(base64.b64decode(fields["policy"], validate=True))
            if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
                raise ValueError
        except ValueError:
            raise Refused(400, "InvalidPolicyDocument", "The policy is not a JSON document with conditions.") from None
        return policy

    def check_conditions(self, policy: dict, bucket: str, file_bytes: int) -> None:
        try:
            expires = datetime.datetime.fromisoformat(str(policy.get("expiration", "")).replace("Z", "+00:00"))
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=datetime.UTC)
        except ValueError:
            raise Refused(400, "InvalidPolicyDocument", "The policy has no valid expiration.") from None
        if expires <= self.now:
            raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        values = {**self.fields, "bucket": bucket}
        covered = set()
        length_range: tuple[int, int] | None = None
        for condition in policy["conditions"]:
            if isinstance(condition, dict) and len(condition) == 1:
                (name, expected), = condition.items()
                operator, name = "eq", str(name).lower()
            elif (isinstance(condition, list) and len(condition) == 3
                  and str(condition[0]).lower() == "content-length-range"):
                try:
                    length_range = (int(condition[1]), int(condition[2]))
                except (TypeError, ValueError):
                    raise Refused(400, "InvalidPolicyDocument", "content-length-range needs two integers.") from None
                continue
            elif (isinstance(condition, list) and len(condition) == 3
                  and str(condition[0]).lower() in ("eq", "starts-with")
                  and str(condition[1]).startswith("$")):
                operator, name, expected = str(condition[0]).lower(), str(condition[1])[1:].lower(), condition[2]
            else:
                raise Refused(400, "InvalidPolicyDocument",
                              f"The policy has a condition S3 does not know: {condition!r}.")
            covered.add(name)
            actual = values.get(name, "")
            if not isinstance(expected, str) or not (
                    actual == expected if operator == "eq" else actual.startswith(expected)):
                raise Refused(403, "AccessDenied",
                              f"Invalid according to Policy: Policy Condition failed: {condition!r}.")
        extra = sorted(name for name in self.fields
                       if name not in covered and name not in UNCOVERED_FIELDS and not name.startswith("x-ignore-"))
        if extra:
            raise Refused(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}.")
        if length_range is not None:
            low, high = length_range
            if file_bytes > high:
                raise Refused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
            if file_bytes < low:
                raise Refused(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.")


def check_presigned_query(method: str, host: str, path: str, query: str, secret: str,
                          now: datetime.datetime) -> None:
    """Refuse unless ``path?query`` is a link this secret signed, for this method and host, not yet expired."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise Refused(400, "InvalidArgument", "A query parameter is repeated.")
    auth: dict[str, str] = {}
    for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                 "X-Amz-Signature"):
        value = params.pop(name, None)
        if not value:
            raise Refused(403, "AccessDenied", "Only presigned links are served here.")
        auth[name] = value
    if auth["X-Amz-Algorithm"] != ALGORITHM or auth["X-Amz-SignedHeaders"] != "host":
        raise Refused(403, "AccessDenied", f"Only {ALGORITHM} links signed over the host header are served here.")
    if any(name.lower().startswith("x-amz-") for name in params):
        raise Refused(403, "AccessDenied", "The link carries parameters it was not signed with.")
    access_key, date, region = _scope(auth["X-Amz-Credential"])
    signed_at = _amz_time(auth["X-Amz-Date"])
    try:
        expires = int(auth["X-Amz-Expires"])
    except ValueError:
        raise Refused(403, "AccessDenied", "X-Amz-Expires is not a number of seconds.") from None
    if not 0 < expires <= MAX_PRESIGN_SECONDS or signed_at.strftime("%Y%m%d") != date:
        raise Refused(403, "AccessDenied", "The link's expiry or date is not valid.")
    if signed_at - CLOCK_SKEW > now:
        raise Refused(403, "AccessDenied", "The link is signed in the future.")
    if signed_at + datetime.timedelta(seconds=expires) < now:
        raise Refused(403, "AccessDenied", "Request has expired")
    # Recompute with the signer that made the link, fed the link's own date and expiry.
    signer = S3SigV4QueryAuth(Credentials(access_key, secret), "s3", region, expires=expires)
    # The link's own encoded segments, minus the auth ones: the signer decodes them once, as it did when signing.
    operation_query = "&".join(segment for segment in query.split("&")
                               if segment and unquote_plus(segment.split("=", 1)[0]) in params)
    request = AWSRequest(method=method, url=f"http://{host}{path}" + (f"?{operation_query}" if operation_query else ""),
                         headers={"host": host})
    request.context["timestamp"] = auth["X-Amz-Date"]
    signer._modify_request_before_signing(request)   # what add_auth does, minus taking the clock's time
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, auth["X-Amz-Signature"].lower()):
        raise Refused(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided.")


class _Form:
    """A multipart form read from the socket: fields (exact bytes, in order) and the file, spooled."""

    def __init__(self):
        self.fields: list[tuple[str, bytes]] = []
        self.file_name = "file"
        self.file_type = ""
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
        self.file_bytes = 0
        self.has_file = False

    def text_fields(self) -> dict[str, str]:
        try:
            return {name.lower(): value.decode("utf-8") for name, value in self.fields}
        except UnicodeDecodeError:
            raise Refused(400, "InvalidArgument", "Form fields must be UTF-8.") from None

    def encoded(self) -> tuple[bytes, str]:
        """The form rebuilt canonically, so the emulator parses exactly what was checked: (head, boundary).

        The file's bytes follow ``head``; ``tail(boundary)`` ends the body. Names were checked against
        FIELD_NAME and the boundary is random, so nothing a client sent can end a part early.
        """
        boundary = "pixelflow-gate-" + secrets.token_hex(16)
        parts = []
        for name, value in self.fields:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                         + value + b"\r\n")
        file_type = f"Content-Type: {self.file_type}\r\n" if self.file_type else ""
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{self.file_name}"'
                     f"\r\n{file_type}\r\n".encode())
        return b"".join(parts), boundary

    @staticmethod
    def tail(boundary: str) -> bytes:
        return f"\r\n--{boundary}--\r\n".encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"   # one request per connection, as the app server does
    timeout = IDLE_SECONDS
    server_version = "pixelflow-gate"

    @property
    def _gate(self) -> "_GateServer":
        return self.server  # type: ignore[return-value]  # always the _GateServer this handler was made for

    def parse_request(self):
        if not super().parse_request():
            return False
        # The headers arrived within the pool's read deadline; the body has a deadline of its own here.
        self.server.reading_done(self.connection)
        if not self.path.startswith("/") or self.path.startswith("//"):
            # Only origin-form targets: what is checked is then exactly what is forwarded.
            self._refuse(Refused(400, "InvalidURI", "Couldn't parse the specified URI."))
            return False
        return True

    def do_OPTIONS(self):
        self._forward("OPTIONS", self.path, body=None)

    def do_GET(self):
        self._signed_read("GET")

    def do_HEAD(self):
        self._signed_read("HEAD")

    def do_POST(self):
        try:
            form = self._read_form()
            try:
                self._check_form(form)
                head, boundary = form.encoded()
                tail = form.tail(boundary)
                form.file.seek(0)
                self._forward("POST", self.path, body=(head, form.file, tail),
                              length=len(head) + form.file_bytes + len(tail),
                              content_type=f"multipart/form-data; boundary={boundary}")
            finally:
                form.file.close()
        except Refused as refused:
            self._refuse(refused)

    def do_PUT(self):
        self._refuse(Refused(403, "AccessDenied", "Only presigned form uploads and links are served here."))

    do_DELETE = do_PATCH = do_PUT

    def _signed_read(self, method):
        try:
            parts = urlsplit(self.path)
            check_presigned_query(method, self.headers.get("Host", ""), parts.path, parts.query,
                                  self._gate.signing_secret, _now())
        except Refused as refused:
            return self._refuse(refused)
        self._forward(method, self.path, body=None)

    def _read_form(self) -> _Form:
        parts = urlsplit(self.path)
        if parts.query or not re.fullmatch(r"/[a-z0-9][a-z0-9.-]{1,62}/?", parts.path):
            raise Refused(403, "AccessDenied", "Only form uploads to the bucket are accepted.")
        mimetype, options = parse_options_header(self.headers.get("Content-Type", ""))
        if mimetype != "multipart/form-data" or not options.get("boundary"):
            raise Refused(403, "AccessDenied", "Only multipart/form-data uploads are accepted.")
        if self.headers.get("Transfer-Encoding"):
            raise Refused(411, "MissingContentLength", "Send the form with a Content-Length.")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise Refused(411, "MissingContentLength", "Send the form with a Content-Length.") from None
        if length < 0 or length > self._gate.max_body_bytes:
            raise Refused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
        form = _Form()
        try:
            self._parse(form, options["boundary"].encode(), length)
        except BaseException:
            form.file.close()
            raise
        return form

    def _parse(self, form: _Form, boundary: bytes, length: int) -> None:
        decoder = multipart.MultipartDecoder(boundary, max_form_memory_size=FORM_OVERHEAD_BYTES,
                                             max_parts=MAX_FIELDS + 1)
        deadline = time.monotonic() + REQUEST_SECONDS
        remaining, current, value, names = length, None, bytearray(), set()
        while True:
            try:
                event = decoder.next_event()
            except Exception:
                raise Refused(400, "MalformedPOSTRequest", "The body of your POST request is not well-formed "
                                                           "multipart/form-data.") from None
            if isinstance(event, multipart.NeedData):
                if remaining <= 0:
                    decoder.receive_data(None)
                    continue
                if time.monotonic() > deadline:
                    raise Refused(400, "RequestTimeout", "The upload was not sent within the time allowed.")
                try:
                    chunk = self.rfile.read1(min(remaining, READ_BYTES))
                except OSError:
                    chunk = b""
                if not chunk:
                    raise Refused(400, "IncompleteBody", "The request body ended before its Content-Length.")
                remaining -= len(chunk)
                try:
                    decoder.receive_data(chunk)
                except Exception:
                    raise Refused(400, "MalformedPOSTRequest", "A form part is too large.") from None
            elif isinstance(event, (multipart.Field, multipart.File)):
                name = event.name or ""
                if form.has_file:
                    raise Refused(400, "InvalidArgument", "The file must be the last part of the form.")
                if not FIELD_NAME.match(name) or name.lower() in names:
                    raise Refused(400, "InvalidArgument", f"Form field {name[:40]!r} is not valid or is repeated.")
                names.add(name.lower())
                current, value = event, bytearray()
                if isinstance(event, multipart.File):
                    if name.lower() != "file":
                        raise Refused(400, "InvalidArgument", "The file must be sent as the field named file.")
                    form.has_file = True
                    form.file_name = re.sub(r'[^A-Za-z0-9._ -]', "_", event.filename or "file")[:200] or "file"
                    form.file_type = event.headers.get("Content-Type", "")
                    if not MEDIA_TYPE.match(form.file_type):
                        raise Refused(400, "InvalidArgument", "The file part's Content-Type is not a media type.")
            elif isinstance(event, multipart.Data):
                if isinstance(current, multipart.File):
                    form.file.write(event.data)
                    form.file_bytes += len(event.data)
                elif isinstance(current, multipart.Field):
                    value += event.data
                    if sum(len(v) for _, v in form.fields) + len(value) > FORM_OVERHEAD_BYTES:
                        raise Refused(400, "MaxPostPreDataLengthExceeded", "The form fields are too large.")
                    if not event.more_data:
                        form.fields.append((current.name, bytes(value)))
                if not event.more_data:
                    current = None
            elif isinstance(event, multipart.Epilogue):
                if not form.has_file:
                    raise Refused(400, "InvalidArgument", "POST requires exactly one file upload per request.")
                return

    def _check_form(self, form: _Form) -> None:
        fields = form.text_fields()
        if "bucket" in fields:
            raise Refused(400, "InvalidArgument", "The bucket is named by the path, not by a form field.")
        if "${filename}" in fields.get("key", ""):
            raise Refused(400, "InvalidArgument", "Keys naming ${filename} are not accepted here.")
        policy = PostPolicy(fields, self._gate.signing_secret, _now())
        checked = policy.check_signature()
        policy.check_conditions(checked, urlsplit(self.path).path.strip("/"), form.file_bytes)

    def _forward(self, method, path, *, body, length=None, content_type=None):
        upstream = http.client.HTTPConnection(self._gate.upstream_host, self._gate.upstream_port,
                                              timeout=UPSTREAM_SECONDS)
        answered = False
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            # The browser's Host: links are signed over it, and the emulators route on it as on S3.
            upstream.putheader("Host", self.headers.get("Host", f"{self._gate.upstream_host}"))
            for name in FORWARDED_HEADERS:
                if self.headers.get(name) is not None:
                    upstream.putheader(name, self.headers[name])
            if body is not None:
                upstream.putheader("Content-Type", content_type)
                upstream.putheader("Content-Length", str(length))
            upstream.endheaders()
            if body is not None:
                head, file, tail = body
                upstream.send(head)
                while chunk := file.read(256 * 1024):
                    upstream.send(chunk)
                upstream.send(tail)
            answer = upstream.getresponse()
            answered = True
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            if answer.getheader("Content-Length") is not None:
                self.send_header("Content-Length", answer.getheader("Content-Length"))
            self.send_header("Connection", "close")
            self.end_headers()
            if method != "HEAD":
                shutil.copyfileobj(answer, self.wfile, 256 * 1024)
        except OSError:
            if not answered:   # afterwards the client has the status line: dropping the connection tells it
                self._refuse(Refused(503, "ServiceUnavailable", "Storage is not answering."))
            self.close_connection = True
        finally:
            upstream.close()

    def _refuse(self, refused: Refused):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(refused.code)}</Code>'
                f"<Message>{escape(refused.message)}</Message></Error>").encode()
        # The unread body stays in the socket, so this connection carries nothing after this answer.
        self.close_connection = True
        try:
            self.send_response(refused.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            if self.headers.get("Origin"):
                # The page must be able to read why (storage-upload.js shows the code); an error says nothing private.
                self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format, *args):   # quiet: links carry signatures
        pass


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _GateServer(_PooledServer):
    signing_secret = ""
    max_body_bytes = 0
    upstream_host = "127.0.0.1"
    upstream_port = 0


class StorageGate:
    """The gate on ``host:port`` (a free port when 0) in a background thread, in front of ``upstream``."""

    def __init__(self, upstream: str, signing_secret: str, max_upload_bytes: int,
                 host: str = "127.0.0.1", port: int = 0):
        target = urlsplit(upstream)
        self.server = _GateServer((host, port), _Handler)
        self.server.signing_secret = signing_secret
        self.server.max_body_bytes = max_upload_bytes + FORM_OVERHEAD_BYTES
        self.server.upstream_host, self.server.upstream_port = target.hostname or "127.0.0.1", target.port or 80
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> "StorageGate":
        self._thread = threading.Thread(target=self.server.serve_forever, name="storage-gate", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(5)
