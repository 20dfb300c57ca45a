"""The loaders' errors: each carries a SQLSTATE, a message, a detail and a hint.

The backend reports them as PostgreSQL errors (churnml.errors.describe takes any
exception with these four attributes) and the `churnml` command prints them in psql's
layout; neither needs to know these classes. Messages follow PostgreSQL's style:
lowercase start, no trailing period; detail and hint are full sentences.

The SQLSTATE says what kind of failure it was, so a caller can react without parsing
text: a missing bucket is a missing object (42704), a missing key a missing file
(58P01, as COPY FROM a missing file), bad credentials an authorization failure
(28000), a refused request a privilege problem (42501), an unreachable endpoint a
connection failure (08001/08006). Every S3 error keeps the S3 code, HTTP status,
bucket/key and request id for the detail line, and never any secret.
"""

from __future__ import annotations


class LoaderError(Exception):
    """An error with everything PostgreSQL needs to report it."""

    sqlstate = "XX000"

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidParameter(LoaderError):
    """A URI, option or configuration value the loaders cannot use."""

    sqlstate = "22023"  # invalid_parameter_value


class NullValueNotAllowed(LoaderError):
    """A required argument is NULL."""

    sqlstate = "22004"  # null_value_not_allowed


class DataException(LoaderError):
    """Object data (COPY rows, gzip) that cannot be used as given."""

    sqlstate = "22000"  # data_exception


class DataCorrupted(LoaderError):
    """An export's manifest is invalid, or a part does not match its size or checksum."""

    sqlstate = "XX001"  # data_corrupted


class DuplicateObject(LoaderError):
    """The export target exists and overwriting was not asked for."""

    sqlstate = "42710"  # duplicate_object


class InsufficientPrivilege(LoaderError):
    """The server's storage configuration forbids it (file_root, a world-readable s3.json)."""

    sqlstate = "42501"  # insufficient_privilege


class UndefinedObject(LoaderError):
    """A storage location names a credential the server's configuration lacks."""

    sqlstate = "42704"  # undefined_object


class FeatureNotSupported(LoaderError):
    """A COPY option or combination churnml's loaders do not support."""

    sqlstate = "0A000"  # feature_not_supported


class ExternalServiceError(LoaderError):
    """Object storage, or the process that uploads to it, failed."""

    sqlstate = "58000"  # system_error


class S3Error(ExternalServiceError):
    """S3-compatible storage answered with an error (58000 unless a subclass says otherwise)."""

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None,
                 s3_code: str | None = None, http_status: int | None = None, bucket: str | None = None,
                 key: str | None = None, request_id: str | None = None, endpoint: str | None = None) -> None:
        super().__init__(message, detail=detail, hint=hint)
        self.s3_code = s3_code
        self.http_status = http_status
        self.bucket = bucket
        self.key = key
        self.request_id = request_id
        self.endpoint = endpoint


class S3BucketNotFound(S3Error):
    sqlstate = "42704"  # undefined_object


class S3ObjectNotFound(S3Error):
    sqlstate = "58P01"  # undefined_file, as COPY FROM a file that is not there


class S3AuthenticationFailed(S3Error):
    """The storage did not accept the credentials (unknown key, wrong secret, expired token), or
    there were none to send."""

    sqlstate = "28000"  # invalid_authorization_specification


class S3AccessDenied(S3Error):
    """The credentials are valid but may not do this."""

    sqlstate = "42501"  # insufficient_privilege


class S3Unreachable(S3Error):
    """No connection to the endpoint (refused, unknown host, timeout)."""

    sqlstate = "08001"  # sqlclient_unable_to_establish_sqlconnection


class S3ConnectionLost(S3Error):
    """The connection broke during a request and retrying did not help."""

    sqlstate = "08006"  # connection_failure


def error_fields(exc: BaseException) -> tuple[str, str, str | None, str | None]:
    """(sqlstate, message, detail, hint) of a loader error; anything else is an internal error (XX000)
    whose detail names what Python raised (for the upload helper, which has no backend to ask)."""
    if isinstance(exc, LoaderError):
        return exc.sqlstate, exc.message, exc.detail, exc.hint
    text = str(exc).strip()[:500]
    return ("XX000", "internal error in churnml's loaders",
            f"Python raised {type(exc).__name__}: {text or 'no message'}.",
            "This is a bug in churnml; please report it with the statement that caused it.")
