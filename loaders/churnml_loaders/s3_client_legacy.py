"""A small S3 client on `http.client` with AWS Signature Version 4.

Why not boto3: this module also runs inside the PostgreSQL backend, where every
dependency is a dependency of the server process; the standard library is enough
for the dozen S3 calls churnml makes.

    client = S3Client(S3Config.from_file(path))
    client.put_object("bucket", "key", b"data")
    for chunk in client.get_object("bucket", "key"):   # streamed, constant memory
        ...

What it does for robustness:
- keeps connections alive and reuses them (a small idle pool; one client per thread);
- retries idempotent requests (GET, HEAD, PUT, DELETE) when a connection breaks or
  the server answers 500/502/503/504, with a short backoff; a GET broken in the
  middle resumes with a Range request pinned to the object's ETag;
- turns S3's error XML into `churnml.errors` exceptions with SQLSTATE, message,
  detail (S3 code, HTTP status, bucket/key, endpoint, request id) and hint;
- never puts the secret key or session token into any exception text or log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from churnml_loaders.errors import (
    S3AccessDenied,
    S3AuthenticationFailed,
    S3BucketNotFound,
    S3ConnectionLost,
    S3Error,
    S3ObjectNotFound,
    S3Unreachable,
)
from churnml_loaders.s3_config import S3Config

log = logging.getLogger("churnml_loaders.s3")

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ALGORITHM = "AWS4-HMAC-SHA256"
DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_DELETE_BATCH = 1000  # S3's limit for DeleteObjects
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# Connection-level failures after a request was sent: the request may be retried if idempotent.
# (OSError covers resets, broken pipes, timeouts and TLS errors.)
_BROKEN = (OSError, http.client.HTTPException)
_AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                         "TokenRefreshRequired", "InvalidClientTokenId", "MissingSecurityHeader",
                         "InvalidSecurity", "RequestTimeTooSkewed"})
_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "AccountProblem", "Forbidden"})


# ---- Signature Version 4 (pure functions, tested against AWS's published examples) ----

def uri_encode(text: str, *, encode_slash: bool = True) -> str:
    """AWS's URI encoding: everything but unreserved characters, UTF-8, upper-case hex."""
    return quote(text, safe="-_.~" if encode_slash else "-_.~/")


def canonical_query_string(query: Iterable[tuple[str, str]]) -> str:
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    items = sorted((name.lower().strip(), " ".join(str(value).split())) for name, value in headers.items())
    canonical = "".join(f"{name}:{value}\n" for name, value in items)
    signed = ";".join(name for name, _ in items)
    return canonical, signed


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign_v4(*, method: str, canonical_uri: str, query: Iterable[tuple[str, str]], headers: Mapping[str, str],
            payload_hash: str, region: str, service: str, access_key_id: str, secret_access_key: str,
            now: datetime) -> str:
    """The Authorization header value for a request whose headers (host and x-amz-date included) are all signed.

    `canonical_uri` is the already-encoded path (S3 encodes each key segment once).
    """
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    canonical_headers, signed_headers = _canonical_headers(headers)
    canonical_request = "\n".join([
        method, canonical_uri, canonical_query_string(query), canonical_headers, signed_headers, payload_hash,
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    signature = hmac.new(signing_key(secret_access_key, date, region, service), string_to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


def signed_headers_for(config: S3Config, *, method: str, host: str, canonical_uri: str,
                       query: Sequence[tuple[str, str]], headers: Mapping[str, str] | None, payload_hash: str,
                       now: datetime, service: str = "s3") -> dict[str, str]:
    """All headers to send for a request: the caller's, host, x-amz-date, payload hash, token, Authorization."""
    out = {"host": host, "x-amz-date": now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
           "x-amz-content-sha256": payload_hash}
    out.update({k.lower(): v for k, v in (headers or {}).items()})
    if config.session_token:
        out["x-amz-security-token"] = config.session_token
    if config.has_credentials:
        out["authorization"] = sign_v4(
            method=method, canonical_uri=canonical_uri, query=query, headers=out, payload_hash=payload_hash,
            region=config.region, service=service, access_key_id=config.access_key_id or "",
            secret_access_key=config.secret_access_key or "", now=now)
    return out


# ---- results ---------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: str | None = None


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _payload(body: bytes | bytearray | memoryview) -> bytes | memoryview:
    """A request body as sent, without copying it: hashing and sending read any buffer, and the
    caller does not touch its buffer until the request has returned (retries included)."""
    return body if isinstance(body, bytes) else memoryview(body).cast("B")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class S3Client:
    """One endpoint, one set of credentials. Not thread-safe: use one client per thread."""

    def __init__(self, config: S3Config, *, max_retries: int = 2, sign_payload: bool = True,
                 retry_delay: float = 0.25, clock: Callable[[], datetime] = _utcnow) -> None:
        self.config = config
        self.max_retries = max_retries
        self.sign_payload = sign_payload
        self.retry_delay = retry_delay
        self._clock = clock
        parts = urlsplit(config.endpoint)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = (parts.scheme == "https" and self._port == 443) or (parts.scheme == "http" and self._port == 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._netloc = host if default_port else f"{host}:{self._port}"
        self._idle: list[http.client.HTTPConnection] = []
        self.requests_sent = 0

    # ---- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def __enter__(self) -> S3Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        return self.config.endpoint

    # ---- bucket calls -----------------------------------------------------------------
    def head_bucket(self, bucket: str) -> None:
        """Raise S3BucketNotFound / S3AccessDenied / ... unless the bucket is there and readable.

        A ListObjectsV2 of zero keys, not HEAD: HEAD answers have no body, so a 403
        could not tell a wrong secret from a missing permission.
        """
        self._call("GET", bucket, None, query=[("list-type", "2"), ("max-keys", "0")])

    def create_bucket(self, bucket: str) -> None:
        body = b""
        if self.config.region != "us-east-1":
            body = (f'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    f"<LocationConstraint>{xml_escape(self.config.region)}</LocationConstraint>"
                    f"</CreateBucketConfiguration>").encode()
        self._call("PUT", bucket, None, body=body)

    def list_objects(self, bucket: str, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order, page after page (ListObjectsV2)."""
        token: str | None = None
        while True:
            query = [("list-type", "2"), ("prefix", prefix), ("max-keys", str(page_size)), ("encoding-type", "url")]
            if token:
                query.append(("continuation-token", token))
            root = _parse_xml(self._call("GET", bucket, None, query=query).body)
            encoded = (_child_text(root, "EncodingType") or "") == "url"
            for item in _children(root, "Contents"):
                key = _child_text(item, "Key") or ""
                yield ObjectInfo(key=unquote(key) if encoded else key, size=int(_child_text(item, "Size") or 0),
                                 etag=_child_text(item, "ETag") or "",
                                 last_modified=_child_text(item, "LastModified"))
            token = _child_text(root, "NextContinuationToken")
            if (_child_text(root, "IsTruncated") or "false").lower() != "true" or not token:
                return

    # ---- object calls -----------------------------------------------------------------
    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        try:
            response = self._call("HEAD", bucket, key)
        except S3ObjectNotFound:
            self.head_bucket(bucket)  # a missing bucket is the more useful message
            raise
        except S3Error as exc:
            if exc.http_status in (400, 403):
                # HEAD answers have no body: a one-byte GET learns S3's real error code
                self._call("GET", bucket, key, headers={"range": "bytes=0-0"}, ok=(200, 206))
            raise
        return ObjectInfo(key=key, size=int(response.headers.get("content-length", "0")),
                          etag=response.headers.get("etag", ""), last_modified=response.headers.get("last-modified"))

    def object_exists(self, bucket: str, key: str) -> bool:
        try:
            self.head_object(bucket, key)
        except S3ObjectNotFound:
            return False
        return True

    def put_object(self, bucket: str, key: str, body: bytes | bytearray | memoryview, *,
                   content_type: str = "application/octet-stream") -> str:
        """Store `body` as one object; return its ETag."""
        response = self._call("PUT", bucket, key, body=_payload(body), headers={"content-type": content_type})
        return response.headers.get("etag", "")

    def open_object(self, bucket: str, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        """Start a GET; errors (no such key, access denied) are raised here, before any data."""
        return ObjectStream(self, bucket, key, chunk_size=chunk_size)

    def get_object(self, bucket: str, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The object's bytes in chunks of at most `chunk_size` (constant memory)."""
        with self.open_object(bucket, key, chunk_size=chunk_size) as stream:
            yield from stream

    def read_object(self, bucket: str, key: str, *, max_bytes: int) -> bytes:
        """A small object in one piece (e.g. a manifest); larger than max_bytes is an error."""
        out = bytearray()
        with self.open_object(bucket, key) as stream:
            for chunk in stream:
                out += chunk
                if len(out) > max_bytes:
                    raise S3Error(f"S3 object \"s3://{bucket}/{key}\" is larger than {max_bytes} bytes",
                                  bucket=bucket, key=key, endpoint=self.endpoint)
        return bytes(out)

    def delete_object(self, bucket: str, key: str) -> None:
        self._call("DELETE", bucket, key, ok=(200, 204))

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        """Delete many keys (DeleteObjects, 1000 per request); a key that is already gone is not an error."""
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == MAX_DELETE_BATCH:
                self._delete_batch(bucket, batch)
                batch = []
        if batch:
            self._delete_batch(bucket, batch)

    def _delete_batch(self, bucket: str, keys: list[str]) -> None:
        objects = "".join(f"<Object><Key>{xml_escape(k)}</Key></Object>" for k in keys)
        body = f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        response = self._call("POST", bucket, None, query=[("delete", "")], body=body,
                              headers={"content-md5": md5, "content-type": "application/xml"}, idempotent=True)
        root = _parse_xml(response.body)
        failures = [(_child_text(e, "Key"), _child_text(e, "Code")) for e in _children(root, "Error")]
        failures = [(k, c) for k, c in failures if c != "NoSuchKey"]
        if failures:
            shown = ", ".join(f"{k} ({c})" for k, c in failures[:5])
            raise S3Error(f"S3 could not delete {len(failures)} object(s) in bucket \"{bucket}\"",
                          detail=self._redact(f"Failed: {shown}."), s3_code=failures[0][1], bucket=bucket,
                          endpoint=self.endpoint)

    # ---- multipart upload ---------------------------------------------------------------
    def create_multipart_upload(self, bucket: str, key: str, *,
                                content_type: str = "application/octet-stream") -> str:
        response = self._call("POST", bucket, key, query=[("uploads", "")], headers={"content-type": content_type})
        upload_id = _child_text(_parse_xml(response.body), "UploadId")
        if not upload_id:
            raise S3Error("S3 answered CreateMultipartUpload without an upload id", bucket=bucket, key=key,
                          endpoint=self.endpoint)
        return upload_id

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | bytearray | memoryview) -> str:
        response = self._call("PUT", bucket, key, query=[("partNumber", str(part_number)), ("uploadId", upload_id)],
                              body=_payload(body))
        return response.headers.get("etag", "")

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: Sequence[tuple[int, str]]) -> str:
        items = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{xml_escape(etag)}</ETag></Part>"
                        for n, etag in parts)
        body = f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()
        response = self._call("POST", bucket, key, query=[("uploadId", upload_id)], body=body,
                              headers={"content-type": "application/xml"})
        # S3 may answer 200 and still put an <Error> in the body.
        root = _parse_xml(response.body)
        if _local(root.tag) == "Error":
            self._raise_for(response.status, response.headers, response.body, "POST", bucket, key)
        return _child_text(root, "ETag") or ""

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._call("DELETE", bucket, key, query=[("uploadId", upload_id)], ok=(200, 204))

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[tuple[str, str]]:
        """(key, upload id) of unfinished multipart uploads (first 1000): what a failed upload could leave."""
        response = self._call("GET", bucket, None, query=[("uploads", ""), ("prefix", prefix)])
        return [(_child_text(u, "Key") or "", _child_text(u, "UploadId") or "")
                for u in _children(_parse_xml(response.body), "Upload")]

    # ---- the request machinery ----------------------------------------------------------
    def _target(self, bucket: str, key: str | None) -> tuple[str, str]:
        """(host header, canonical/encoded path) for path-style or virtual-hosted addressing."""
        encoded_key = uri_encode(key, encode_slash=False) if key is not None else ""
        if self.config.addressing_style == "virtual":
            return f"{bucket}.{self._netloc}", "/" + encoded_key
        path = f"/{uri_encode(bucket)}"
        return self._netloc, (f"{path}/{encoded_key}" if key is not None else path)

    def _connection(self, *, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        """(connection, reused?) — an idle kept-alive one unless `fresh`."""
        if self._idle and not fresh:
            return self._idle.pop(), True
        if self._scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.config.connect_timeout, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.config.connect_timeout)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _ConnectFailed(exc) from exc
        if conn.sock is not None:
            conn.sock.settimeout(self.config.read_timeout)
        return conn, False

    def _release(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        if response.will_close or len(self._idle) >= 4:
            conn.close()
        else:
            self._idle.append(conn)

    def _send(self, method: str, bucket: str, key: str | None, *, query: Sequence[tuple[str, str]],
              headers: Mapping[str, str] | None, body: bytes | memoryview, idempotent: bool,
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one request (retrying as allowed) and return the open response with its connection."""
        host, path = self._target(bucket, key)
        target = path + ("?" + canonical_query_string(query) if query else "")
        if body and self.sign_payload:
            payload_hash = hashlib.sha256(body).hexdigest()
        else:
            payload_hash = EMPTY_SHA256 if not body else UNSIGNED_PAYLOAD
        attempt = 0
        while True:
            attempt += 1
            conn: http.client.HTTPConnection | None = None
            reused = False
            try:
                # Requests that must not run twice go on a new connection: a kept-alive one
                # the server closed meanwhile would fail in a way that cannot be retried safely.
                conn, reused = self._connection(fresh=not idempotent)
                send = signed_headers_for(self.config, method=method, host=host, canonical_uri=path, query=query,
                                          headers=headers, payload_hash=payload_hash, now=self._clock())
                send["user-agent"] = "churnml-loaders"
                if body or method in ("PUT", "POST"):
                    send["content-length"] = str(len(body))
                self.requests_sent += 1
                conn.request(method, target, body=body or None, headers=send)
                response = conn.getresponse()
            except _ConnectFailed as exc:
                if attempt <= self.max_retries:
                    self._pause(attempt)
                    continue
                raise self._unreachable(exc.cause, method, bucket, key) from None
            except _BROKEN as exc:
                if conn is not None:
                    conn.close()
                # A reused connection the server had closed: one free retry, even beyond max_retries.
                if idempotent and (attempt <= self.max_retries or (reused and attempt == 1)):
                    log.debug("s3 %s %s/%s: %s; retrying", method, bucket, key or "", type(exc).__name__)
                    self._pause(attempt if not reused else 0)
                    continue
                raise self._lost(exc, method, bucket, key) from None
            if response.status in _RETRY_STATUSES and idempotent and attempt <= self.max_retries:
                response.read()
                self._release(conn, response)
                log.debug("s3 %s %s/%s: HTTP %s; retrying", method, bucket, key or "", response.status)
                self._pause(attempt)
                continue
            return conn, response

    def _call(self, method: str, bucket: str, key: str | None, *, query: Sequence[tuple[str, str]] = (),
              headers: Mapping[str, str] | None = None, body: bytes | memoryview = b"", ok: tuple[int, ...] = (200,),
              idempotent: bool | None = None) -> _Response:
        """A request whose whole answer is read: raise the matching S3 error unless its status is in `ok`."""
        idempotent = method in _IDEMPOTENT if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            conn, response = self._send(method, bucket, key, query=query, headers=headers, body=body,
                                        idempotent=idempotent)
            try:
                data = response.read()
            except _BROKEN as exc:
                conn.close()
                if idempotent and attempt <= self.max_retries:
                    self._pause(attempt)
                    continue
                raise self._lost(exc, method, bucket, key) from None
            self._release(conn, response)
            answer = _Response(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
            log.debug("s3 %s %s/%s -> %s", method, bucket, key or "", response.status)
            if response.status not in ok:
                self._raise_for(answer.status, answer.headers, answer.body, method, bucket, key)
            return answer

    def _pause(self, attempt: int) -> None:
        if attempt > 0:
            time.sleep(self.retry_delay * (4 ** (attempt - 1)))

    # ---- errors ---------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        for secret in self.config.secrets():
            text = text.replace(secret, "[redacted]")
        return text

    def _where(self, bucket: str, key: str | None) -> str:
        return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"

    def _unreachable(self, cause: BaseException, method: str, bucket: str, key: str | None) -> S3Unreachable:
        reason = _describe_os_error(cause)
        return S3Unreachable(
            f"could not connect to the S3 endpoint {self.endpoint}",
            detail=self._redact(f"{reason} ({method} {self._where(bucket, key)}, "
                                f"{self.max_retries + 1} attempts)."),
            hint=f"The S3 endpoint {self.endpoint} is not reachable: check that the server runs "
                 f"(`churnml s3 status` for the local one) and the endpoint configured in {self.config.source}.",
            bucket=bucket, key=key, endpoint=self.endpoint)

    def _lost(self, cause: BaseException, method: str, bucket: str, key: str | None) -> S3ConnectionLost:
        return S3ConnectionLost(
            f"lost the connection to the S3 endpoint {self.endpoint}",
            detail=self._redact(f"{_describe_os_error(cause)} during {method} {self._where(bucket, key)}."),
            hint="The S3 server closed the connection or stopped answering; check it and try again.",
            bucket=bucket, key=key, endpoint=self.endpoint)

    def _raise_for(self, status: int, headers: Mapping[str, str], body: bytes, method: str, bucket: str,
                   key: str | None) -> NoReturn:
        code, s3_message, request_id = _parse_error(body)
        request_id = request_id or headers.get("x-amz-request-id")
        if code is None:
            code = {404: "NoSuchKey" if key else "NoSuchBucket", 403: "AccessDenied", 400: "BadRequest",
                    301: "PermanentRedirect", 409: "Conflict", 412: "PreconditionFailed",
                    503: "ServiceUnavailable"}.get(status, f"HTTP{status}")
            # Without a body, a 404 on an object may still mean the bucket is missing.
            if status == 404 and key and method == "HEAD":
                code = "NoSuchKey"
        where = self._where(bucket, key)
        facts = [f"S3 code {code}", f"HTTP status {status}", f"bucket \"{bucket}\""]
        if key:
            facts.append(f"key \"{key}\"")
        facts.append(f"endpoint {self.endpoint}")
        if request_id:
            facts.append(f"request id {request_id}")
        detail = "; ".join(facts) + "."
        if s3_message:
            detail += f" S3 says: {s3_message.rstrip('.')}."
        detail = self._redact(detail)
        common: dict[str, Any] = {"detail": detail, "s3_code": code, "http_status": status, "bucket": bucket,
                                  "key": key, "request_id": request_id, "endpoint": self.endpoint}
        credentials = self._credentials_named()
        if code == "NoSuchBucket":
            raise S3BucketNotFound(f"S3 bucket \"{bucket}\" does not exist",
                                   hint=f"Create the bucket, or check the bucket name in the URI ({where}).",
                                   **common)
        if code in ("NoSuchKey", "NotFound"):
            raise S3ObjectNotFound(f"S3 object \"{where}\" does not exist",
                                   hint="Check the key in the URI (keys are case-sensitive).", **common)
        if code in _AUTH_CODES:
            hint = (f"Check the S3 credentials configured by the administrator ({credentials}); "
                    f"the endpoint {self.endpoint} does not accept them.")
            if code == "RequestTimeTooSkewed":
                hint = "This machine's clock is too far from the S3 server's; synchronize it (NTP)."
            raise S3AuthenticationFailed(f"S3 rejected the credentials ({code}) for {where}", hint=hint, **common)
        if code in _DENIED_CODES:
            raise S3AccessDenied(
                f"S3 denied access to {where} ({code})",
                hint=f"The S3 credentials configured by the administrator ({credentials}) may not "
                     f"{_needed_permission(method)} here; ask for that permission on the bucket or prefix.",
                **common)
        hint = None
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
            hint = (f"The bucket may be in another region than \"{self.config.region}\"; "
                    f"set the region in {self.config.source}.")
        elif status in _RETRY_STATUSES:
            hint = "The S3 server had a problem; try again later."
        raise S3Error(f"S3 request failed: {method} {where} ({code})", hint=hint, **common)

    def _credentials_named(self) -> str:
        key = self.config.access_key_id
        if not key:
            return f"none found in {self.config.source}"
        shown = f"…{key[-4:]}" if len(key) > 8 else "set"
        return f"access key {shown} from {self.config.source}"


def _needed_permission(method: str) -> str:
    return {"GET": "read or list objects", "HEAD": "read objects", "PUT": "write objects",
            "POST": "write or delete objects", "DELETE": "delete objects"}.get(method, "do this")


class _ConnectFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"host name lookup failed ({exc.strerror})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


# ---- streaming GET ------------------------------------------------------------------

class ObjectStream:
    """An object's bytes as an iterator of chunks; resumes once per retry if the connection breaks.

    The resume asks for the remaining range with If-Match on the ETag, so a stream
    never silently mixes two versions of an object.
    """

    def __init__(self, client: S3Client, bucket: str, key: str, *, chunk_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.chunk_size = chunk_size
        self.received = 0
        self._conn: http.client.HTTPConnection | None = None
        self._response: http.client.HTTPResponse | None = None
        self._open(None)
        assert self._response is not None
        headers = {k.lower(): v for k, v in self._response.getheaders()}
        self.etag = headers.get("etag", "")
        self.size = int(headers.get("content-length", "0"))

    def _open(self, range_from: int | None) -> None:
        headers: dict[str, str] = {}
        ok = (200,)
        if range_from is not None:
            headers = {"range": f"bytes={range_from}-"}
            if self.etag:
                headers["if-match"] = self.etag
            ok = (206,)
        conn, response = self.client._send("GET", self.bucket, self.key, query=(), headers=headers, body=b"",
                                           idempotent=True)
        if response.status not in ok:
            body = response.read()
            conn.close()
            self.client._raise_for(response.status, {k.lower(): v for k, v in response.getheaders()}, body, "GET",
                                   self.bucket, self.key)
        self._conn, self._response = conn, response

    def __iter__(self) -> Iterator[bytes]:
        retries = 0
        while self._response is not None:
            try:
                chunk = self._response.read(self.chunk_size)
            except _BROKEN as exc:
                self._discard()
                retries += 1
                if retries > self.client.max_retries:
                    raise self.client._lost(exc, "GET", self.bucket, self.key) from None
                log.debug("s3 GET %s/%s broke after %d bytes; resuming", self.bucket, self.key, self.received)
                self.client._pause(retries)
                self._open(self.received)
                continue
            if not chunk:
                if self.received < self.size:  # closed early without an exception
                    self._discard()
                    retries += 1
                    if retries > self.client.max_retries:
                        raise self.client._lost(ConnectionResetError("short read"), "GET", self.bucket, self.key)
                    self._open(self.received)
                    continue
                assert self._conn is not None
                self.client._release(self._conn, self._response)
                self._conn = self._response = None
                return
            self.received += len(chunk)
            yield chunk

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._response = None

    def close(self) -> None:
        """Stop early: the connection is dropped (its unread body makes it unusable)."""
        self._discard()

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- XML helpers ----------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(body: bytes) -> ET.Element:
    # ElementTree resolves no external entities, and expat >= 2.4.1 refuses entity-expansion bombs.
    try:
        return ET.fromstring(body)  # noqa: S314 - see the import: no external entities, bounded expansion
    except ET.ParseError as exc:
        raise S3Error("S3 answered with XML that cannot be parsed", detail=f"{exc}.") from None


def _children(root: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in root if _local(child.tag) == name]


def _child_text(root: ET.Element, name: str) -> str | None:
    for child in root:
        if _local(child.tag) == name:
            return child.text
    return None


def _parse_error(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(code, message, request id) from an S3 <Error> document, or Nones."""
    if not body or not body.lstrip().startswith(b"<"):
        return None, None, None
    try:
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return None, None, None
    if _local(root.tag) != "Error":
        nested = _children(root, "Error")
        if not nested:
            return None, None, None
        root = nested[0]
    return _child_text(root, "Code"), _child_text(root, "Message"), _child_text(root, "RequestId")
