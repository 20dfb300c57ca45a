"""The S3 calls churnml makes, on botocore (the library under boto3 and the AWS CLI).

    with S3Client(S3Config.from_file(path)) as client:
        client.put_object("bucket", "key", b"data")
        for chunk in client.get_object("bucket", "key"):   # streamed, constant memory
            ...

botocore signs (SigV4), parses, retries (its "standard" mode: 5xx answers, throttling and
dropped connections, with jittered backoff) and finds credentials: a configuration without
keys uses the standard AWS chain (environment, shared config and credentials files with
their profiles, web identity, container and instance metadata). What this module adds:

- churnml's errors: every failure is a churnml_loaders.errors.S3Error with SQLSTATE, message,
  detail (S3 code, HTTP status, bucket/key, endpoint, request id) and hint, never a secret;
- downloads that resume after a broken connection with a Range request pinned to the
  object's ETag (If-Match), so a stream never mixes two versions of an object;
- server-side encryption (SSE-S3, SSE-KMS) on every object it writes, when asked;
- one botocore client per configuration and process: creating one loads botocore's S3
  model (~50 ms), which a backend then does once, not on every export or load.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from churnml_loaders.errors import (
    InvalidParameter,
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

DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_DELETE_BATCH = 1000  # S3's limit for DeleteObjects
MAX_ATTEMPTS = 3  # botocore's standard retry mode: the first try and two retries
_RESUMES = 2      # how often one download resumes after its connection broke
_CLIENTS_KEPT = 8
_AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                         "TokenRefreshRequired", "InvalidClientTokenId", "MissingSecurityHeader",
                         "InvalidSecurity", "RequestTimeTooSkewed"})
_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "AccountProblem", "Forbidden"})
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_BODYLESS_CODES = {"404": "NotFound", "403": "AccessDenied", "400": "BadRequest", "412": "PreconditionFailed",
                   "301": "PermanentRedirect", "503": "ServiceUnavailable"}
SSE_ALGORITHMS = ("AES256", "aws:kms")
# what churnml.storage_locations' CHECK accepts: a KMS key id, alias or ARN
KMS_KEY_ID = re.compile(r"[A-Za-z0-9:/_.-]{1,2048}")


# ---- server-side encryption --------------------------------------------------------------

@dataclass(frozen=True)
class Encryption:
    """How S3 encrypts the objects churnml writes: SSE-S3 ("AES256", keys S3 manages) or SSE-KMS
    ("aws:kms", with a KMS key id or ARN, or the bucket's default KMS key when None)."""

    algorithm: str
    kms_key_id: str | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in SSE_ALGORITHMS:
            raise InvalidParameter(f"unknown server-side encryption \"{self.algorithm}\"",
                                   detail="S3 encrypts with AES256 (SSE-S3) or aws:kms (SSE-KMS).",
                                   hint="Use sse => 'AES256' or sse => 'aws:kms' (with kms_key_id).")
        if self.kms_key_id is not None and (self.algorithm != "aws:kms" or not self.kms_key_id.strip()):
            raise InvalidParameter("a KMS key id needs sse 'aws:kms'",
                                   detail="SSE-S3 (AES256) uses keys S3 manages itself.",
                                   hint="Pass sse => 'aws:kms' with kms_key_id, or leave kms_key_id out.")
        if self.kms_key_id is not None and not KMS_KEY_ID.fullmatch(self.kms_key_id):
            raise InvalidParameter("invalid KMS key id",
                                   detail="A KMS key id, alias or ARN is 1 to 2048 letters, digits and ':/_.-'.",
                                   hint="e.g. 1234abcd-12ab-34cd-56ef-1234567890ab, alias/my-key, or the key's ARN.")

    @classmethod
    def of(cls, algorithm: str | None, kms_key_id: str | None = None) -> Encryption | None:
        """None when neither is set (the bucket's own default applies)."""
        if algorithm is None:
            if kms_key_id is not None:
                raise InvalidParameter("a KMS key id needs sse 'aws:kms'", detail="sse is not set.",
                                       hint="Pass sse => 'aws:kms' with kms_key_id.")
            return None
        return cls(algorithm, kms_key_id)

    def parameters(self) -> dict[str, str]:
        """PutObject's and CreateMultipartUpload's parameters."""
        found = {"ServerSideEncryption": self.algorithm}
        if self.kms_key_id:
            found["SSEKMSKeyId"] = self.kms_key_id
        return found


# ---- botocore, imported on first use ----------------------------------------------------

_lock = threading.Lock()
_clients: dict[S3Config, Any] = {}
_sessions: dict[str | None, Any] = {}


def _session(profile: str | None) -> Any:
    import botocore.session

    session = _sessions.get(profile)
    if session is None:
        session = botocore.session.Session(profile=profile)
        _sessions[profile] = session
    return session


def _botocore_client(config: S3Config) -> Any:
    """The botocore client for `config`, made once per process (botocore clients are thread-safe)."""
    with _lock:
        client = _clients.get(config)
        if client is not None:
            return client
        from botocore.config import Config

        settings = Config(
            region_name=config.region, connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            s3={"addressing_style": config.addressing_style},
            # The manifest's SHA-256 checks the data end to end; a CRC per request would be a second pass.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
            user_agent_extra="churnml-loaders")
        keys: dict[str, str | None] = {}
        if config.has_credentials:
            keys = {"aws_access_key_id": config.access_key_id, "aws_secret_access_key": config.secret_access_key,
                    "aws_session_token": config.session_token}
        client = _session(config.profile).create_client("s3", endpoint_url=config.endpoint, config=settings, **keys)
        if len(_clients) >= _CLIENTS_KEPT:
            _clients.pop(next(iter(_clients)))
        _clients[config] = client
        return client


def resolved_credentials(config: S3Config) -> S3Config:
    """`config` with explicit keys: its own, or those the AWS credential chain finds now (for a process
    that must not search itself, such as export_query's upload helper). S3AuthenticationFailed if none."""
    if config.has_credentials:
        return config
    try:
        found = _session(config.profile).get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except Exception as exc:  # noqa: BLE001 - a provider's own failure (a bad profile, IMDS refusing) is reported
        raise _no_credentials(config, exc) from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise _no_credentials(config, None)
    from dataclasses import replace

    return replace(config, access_key_id=frozen.access_key, secret_access_key=frozen.secret_key,
                   session_token=frozen.token, profile=None)


def _no_credentials(config: S3Config, cause: BaseException | None) -> S3AuthenticationFailed:
    why = f" ({type(cause).__name__}: {_redacted(str(cause), config)})" if cause is not None else ""
    return S3AuthenticationFailed(
        f"no S3 credentials found for {config.endpoint}",
        detail=f"{config.source} sets no access key, and the AWS credential chain found none{why}.",
        hint="Configure access_key_id and secret_access_key, or give the process credentials the AWS way: "
             "AWS_ACCESS_KEY_ID / AWS_PROFILE, ~/.aws/credentials, a web identity token, or a container or "
             "instance role (docs/loaders.md).", endpoint=config.endpoint)


def _redacted(text: str, config: S3Config) -> str:
    for secret in config.secrets():
        text = text.replace(secret, "[redacted]")
    return text


# ---- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: str | None = None


class S3Client:
    """One endpoint, one set of credentials (or the credential chain), optionally one encryption for
    everything it writes."""

    def __init__(self, config: S3Config, *, encryption: Encryption | None = None) -> None:
        self.config = config
        self.encryption = encryption
        self._client = _botocore_client(config)
        self._write_parameters = encryption.parameters() if encryption else {}

    def close(self) -> None:
        """Nothing to release: the botocore client (and its connections) is kept for the next use."""

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
        self._call("ListObjectsV2", bucket, None, MaxKeys=0)

    def create_bucket(self, bucket: str) -> None:
        extra: dict[str, Any] = {}
        if self.config.region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
        self._call("CreateBucket", bucket, None, **extra)

    def list_objects(self, bucket: str, prefix: str = "", *, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order, page after page (ListObjectsV2)."""
        token: str | None = None
        while True:
            extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
            page = self._call("ListObjectsV2", bucket, None, Prefix=prefix, MaxKeys=page_size, **extra)
            for item in page.get("Contents", ()):
                modified = item.get("LastModified")
                yield ObjectInfo(key=item["Key"], size=int(item.get("Size", 0)), etag=item.get("ETag", ""),
                                 last_modified=modified.isoformat() if modified is not None else None)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    # ---- object calls -----------------------------------------------------------------
    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        try:
            answer = self._call("HeadObject", bucket, key)
        except S3ObjectNotFound:
            self.head_bucket(bucket)  # a missing bucket is the more useful message
            raise
        except S3Error as exc:
            if exc.http_status in (400, 403):
                # HEAD answers have no body: a one-byte GET learns S3's real error code
                self._call("GetObject", bucket, key, Range="bytes=0-0")["Body"].close()
            raise
        return ObjectInfo(key=key, size=int(answer.get("ContentLength", 0)), etag=answer.get("ETag", ""),
                          last_modified=str(answer.get("LastModified")) if answer.get("LastModified") else None)

    def object_exists(self, bucket: str, key: str) -> bool:
        try:
            self.head_object(bucket, key)
        except S3ObjectNotFound:
            return False
        return True

    def put_object(self, bucket: str, key: str, body: bytes | bytearray | memoryview, *,
                   content_type: str = "application/octet-stream") -> str:
        """Store `body` as one object; return its ETag."""
        answer = self._call("PutObject", bucket, key, Body=_bytes(body), ContentType=content_type,
                            **self._write_parameters)
        return str(answer.get("ETag", ""))

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
        self._call("DeleteObject", bucket, key)

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
        answer = self._call("DeleteObjects", bucket, None,
                            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        failures = [(e.get("Key"), e.get("Code")) for e in answer.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
        if failures:
            shown = ", ".join(f"{k} ({c})" for k, c in failures[:5])
            raise S3Error(f"S3 could not delete {len(failures)} object(s) in bucket \"{bucket}\"",
                          detail=self._redact(f"Failed: {shown}."), s3_code=failures[0][1], bucket=bucket,
                          endpoint=self.endpoint)

    # ---- multipart upload ---------------------------------------------------------------
    def create_multipart_upload(self, bucket: str, key: str, *,
                                content_type: str = "application/octet-stream") -> str:
        answer = self._call("CreateMultipartUpload", bucket, key, ContentType=content_type, **self._write_parameters)
        return str(answer["UploadId"])

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | bytearray | memoryview) -> str:
        answer = self._call("UploadPart", bucket, key, UploadId=upload_id, PartNumber=part_number, Body=_bytes(body))
        return str(answer.get("ETag", ""))

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: Sequence[tuple[int, str]]) -> str:
        answer = self._call("CompleteMultipartUpload", bucket, key, UploadId=upload_id,
                            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]})
        return str(answer.get("ETag", ""))

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._call("AbortMultipartUpload", bucket, key, UploadId=upload_id)

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[tuple[str, str]]:
        """(key, upload id) of unfinished multipart uploads (first 1000): what a failed upload could leave."""
        answer = self._call("ListMultipartUploads", bucket, None, Prefix=prefix)
        return [(u["Key"], u["UploadId"]) for u in answer.get("Uploads", ())]

    # ---- calls and their errors ---------------------------------------------------------------
    def _call(self, operation: str, bucket: str, key: str | None, **parameters: Any) -> dict[str, Any]:
        """One botocore operation (retried by botocore as its standard mode allows); any failure as churnml's
        S3 error."""
        method = getattr(self._client, _SNAKE[operation])
        where = {"Bucket": bucket, **({"Key": key} if key is not None else {})}
        try:
            answer: dict[str, Any] = method(**where, **parameters)
        except Exception as exc:  # noqa: BLE001 - every botocore failure becomes churnml's S3 error
            self._raise_for(exc, operation, bucket, key)
        log.debug("s3 %s %s/%s", operation, bucket, key or "")
        return answer

    def _redact(self, text: str) -> str:
        return _redacted(text, self.config)

    def _where(self, bucket: str, key: str | None) -> str:
        return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"

    def _raise_for(self, exc: BaseException, operation: str, bucket: str, key: str | None) -> NoReturn:
        from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

        if isinstance(exc, ClientError):
            self._raise_answer(exc.response, operation, bucket, key)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            raise _no_credentials(self.config, None) from None
        if _connect_failure(exc):
            raise self._unreachable(exc, operation, bucket, key) from None
        if _connection_failure(exc):
            raise self._lost(exc, operation, bucket, key) from None
        if not _botocore_error(exc):
            raise exc  # not botocore's: a bug of churnml's, with its own traceback
        raise S3Error(f"S3 request failed: {operation} {self._where(bucket, key)}",
                      detail=self._redact(f"{type(exc).__name__}: {exc}."), bucket=bucket, key=key,
                      endpoint=self.endpoint) from None

    def _unreachable(self, cause: BaseException, operation: str, bucket: str, key: str | None) -> S3Unreachable:
        return S3Unreachable(
            f"could not connect to the S3 endpoint {self.endpoint}",
            detail=self._redact(f"{_describe_failure(cause)} ({operation} {self._where(bucket, key)}, "
                                f"{MAX_ATTEMPTS} attempts)."),
            hint=f"The S3 endpoint {self.endpoint} is not reachable: check that the server runs "
                 f"(`churnml s3 status` for the local one) and the endpoint configured in {self.config.source}.",
            bucket=bucket, key=key, endpoint=self.endpoint)

    def _lost(self, cause: BaseException, operation: str, bucket: str, key: str | None) -> S3ConnectionLost:
        return S3ConnectionLost(
            f"lost the connection to the S3 endpoint {self.endpoint}",
            detail=self._redact(f"{_describe_failure(cause)} during {operation} {self._where(bucket, key)}."),
            hint="The S3 server closed the connection or stopped answering; check it and try again.",
            bucket=bucket, key=key, endpoint=self.endpoint)

    def _raise_answer(self, response: Mapping[str, Any], operation: str, bucket: str, key: str | None) -> NoReturn:
        error = response.get("Error", {})
        meta = response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        code = str(error.get("Code") or f"HTTP{status}")
        code = _BODYLESS_CODES.get(code, code)  # a HEAD answer has no body: botocore gives the status
        if code == "NotFound":
            code = "NoSuchKey" if key else "NoSuchBucket"
        s3_message = error.get("Message")
        if s3_message == _HTTP_REASONS.get(status):
            s3_message = None  # botocore's stand-in for a missing body says nothing the status does not
        request_id = meta.get("RequestId") or meta.get("HTTPHeaders", {}).get("x-amz-request-id")
        where = self._where(bucket, key)
        facts = [f"S3 code {code}", f"HTTP status {status}", f"bucket \"{bucket}\""]
        if key:
            facts.append(f"key \"{key}\"")
        facts.append(f"endpoint {self.endpoint}")
        if request_id:
            facts.append(f"request id {request_id}")
        detail = "; ".join(facts) + "."
        if s3_message:
            detail += f" S3 says: {str(s3_message).rstrip('.')}."
        common: dict[str, Any] = {"detail": self._redact(detail), "s3_code": code, "http_status": status,
                                  "bucket": bucket, "key": key, "request_id": request_id, "endpoint": self.endpoint}
        credentials = self._credentials_named()
        if code == "NoSuchBucket":
            raise S3BucketNotFound(f"S3 bucket \"{bucket}\" does not exist",
                                   hint=f"Create the bucket, or check the bucket name in the URI ({where}).",
                                   **common)
        if code == "NoSuchKey":
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
                     f"{_NEEDED.get(operation, 'do this')} here; ask for that permission on the bucket or prefix.",
                **common)
        hint = None
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
            hint = (f"The bucket may be in another region than \"{self.config.region}\"; "
                    f"set the region in {self.config.source}.")
        elif code.startswith("KMS.") or code == "KMSNotFoundException" or "KMS" in str(s3_message or ""):
            hint = ("The storage location's server-side encryption names a KMS key these credentials may not use, "
                    "or the storage has no KMS; check sse and kms_key_id.")
        elif status in _RETRY_STATUSES:
            hint = "The S3 server had a problem; try again later."
        raise S3Error(f"S3 request failed: {operation} {where} ({code})", hint=hint, **common)

    def _credentials_named(self) -> str:
        key = self.config.access_key_id
        if not key:
            return f"the AWS credential chain, as {self.config.source} sets no keys"
        shown = f"…{key[-4:]}" if len(key) > 8 else "set"
        return f"access key {shown} from {self.config.source}"


# botocore's method for each S3 operation churnml uses
_SNAKE = {"ListObjectsV2": "list_objects_v2", "CreateBucket": "create_bucket", "HeadObject": "head_object",
          "GetObject": "get_object", "PutObject": "put_object", "DeleteObject": "delete_object",
          "DeleteObjects": "delete_objects", "CreateMultipartUpload": "create_multipart_upload",
          "UploadPart": "upload_part", "CompleteMultipartUpload": "complete_multipart_upload",
          "AbortMultipartUpload": "abort_multipart_upload", "ListMultipartUploads": "list_multipart_uploads"}
_NEEDED = {"ListObjectsV2": "list objects", "GetObject": "read objects", "HeadObject": "read objects",
           "PutObject": "write objects", "CreateMultipartUpload": "write objects", "UploadPart": "write objects",
           "CompleteMultipartUpload": "write objects", "DeleteObject": "delete objects",
           "DeleteObjects": "delete objects", "AbortMultipartUpload": "delete objects",
           "ListMultipartUploads": "list uploads", "CreateBucket": "create buckets"}
_HTTP_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 412: "Precondition Failed",
                 301: "Moved Permanently", 503: "Service Unavailable"}


def _bytes(body: bytes | bytearray | memoryview) -> bytes | bytearray:
    """A request body botocore takes (it hashes and sends bytes; a view is copied once)."""
    return body if isinstance(body, bytes | bytearray) else bytes(body)


def _botocore_error(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError

    return isinstance(exc, BotoCoreError)


def _connect_failure(exc: BaseException) -> bool:
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    return isinstance(exc, EndpointConnectionError | ConnectTimeoutError)


def _connection_failure(exc: BaseException) -> bool:
    """A connection that broke after the request went out (botocore's, urllib3's or the socket's own)."""
    from botocore.exceptions import ConnectionClosedError, HTTPClientError, IncompleteReadError, ReadTimeoutError
    from urllib3.exceptions import HTTPError as Urllib3Error

    return isinstance(exc, ConnectionClosedError | ReadTimeoutError | HTTPClientError | IncompleteReadError
                      | Urllib3Error | OSError)


def _describe_failure(exc: BaseException) -> str:
    """What broke, in words: the socket-level cause botocore and urllib3 wrap."""
    import socket
    import ssl

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return f"host name lookup failed ({current.strerror})"
        if isinstance(current, TimeoutError):
            return "timed out"
        if isinstance(current, ssl.SSLError):
            return f"TLS error ({current.reason or type(current).__name__})"
        wrapped = getattr(current, "kwargs", {}).get("error") if hasattr(current, "kwargs") else None
        current = wrapped or current.__cause__ or current.__context__
    text = str(exc).lower()
    if "connection refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "timed out"
    if "reset" in text:
        return "connection reset by peer"
    return type(exc).__name__


# ---- streaming GET ------------------------------------------------------------------

class ObjectStream:
    """An object's bytes as an iterator of chunks; resumes (up to twice) if the connection breaks.

    The resume asks for the remaining range with If-Match on the ETag, so a stream
    never silently mixes two versions of an object.
    """

    def __init__(self, client: S3Client, bucket: str, key: str, *, chunk_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.chunk_size = chunk_size
        self.received = 0
        self.etag = ""
        self._body: Any = None
        answer = self._open(None)
        self.etag = answer.get("ETag", "")
        self.size = int(answer.get("ContentLength", 0))

    def _open(self, range_from: int | None) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if range_from is not None:
            extra["Range"] = f"bytes={range_from}-"
            if self.etag:
                extra["IfMatch"] = self.etag
        answer = self.client._call("GetObject", self.bucket, self.key, **extra)
        self._body = answer["Body"]
        return answer

    def __iter__(self) -> Iterator[bytes]:
        resumes = 0
        while self._body is not None:
            try:
                chunk = self._body.read(self.chunk_size)
            except Exception as exc:
                if not (_connection_failure(exc) or _botocore_error(exc)):
                    raise
                self._discard()
                resumes += 1
                if resumes > _RESUMES:
                    raise self.client._lost(exc, "GetObject", self.bucket, self.key) from None
                log.debug("s3 GET %s/%s broke after %d bytes; resuming", self.bucket, self.key, self.received)
                time.sleep(0.05 * resumes)
                self._open(self.received)
                continue
            if not chunk:
                self._discard()
                return
            self.received += len(chunk)
            yield chunk

    def _discard(self) -> None:
        if self._body is not None:
            self._body.close()
        self._body = None

    def close(self) -> None:
        """Stop early: the connection is dropped (its unread body makes it unusable)."""
        self._discard()

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
