"""Parse and check the URIs that name export targets and load sources.

Two kinds:

    s3://bucket/key-or-prefix   an object, or the prefix of a set of objects
    file:///absolute/path       a server-side file (the SQL layer decides who may use it)

Keys are taken literally (no percent-decoding), as the AWS CLI does. What is refused
is what could make one name mean another: `.` or `..` path segments, empty segments
(`a//b`), a leading `/`, control characters, a backslash, a percent-encoded `.`, `/`
or `\\` (`%2e`, `%2f`, `%5c`: literal to S3, but a reader — or a server that decodes
them — could take `%2e%2e` for `..`), and keys longer than S3's 1024 bytes. The scheme
is case-insensitive (`S3://` is `s3://`); bucket names must be lowercase, as S3's are.
Standard library only: this module also runs inside the PostgreSQL backend.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from churnml_loaders.errors import InvalidParameter

MAX_KEY_BYTES = 1024
_S3_HINT = "Write it as s3://bucket/key, e.g. s3://my-bucket/exports/customers."
_FILE_HINT = "Write it as file:///absolute/path, e.g. file:///var/lib/churnml/exports/customers.csv."
# S3's bucket naming rules (general purpose buckets).
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_SEPARATOR = re.compile(r"%(?:2e|2f|5c)", re.IGNORECASE)


@dataclass(frozen=True)
class S3Uri:
    """`s3://bucket/key`; `key` may be empty (the whole bucket) where a prefix is allowed."""

    bucket: str
    key: str

    kind = "s3"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def with_key(self, key: str) -> S3Uri:
        """The same bucket with another key (checked like any key)."""
        return S3Uri(self.bucket, check_key(key, uri=f"s3://{self.bucket}/{key}"))


@dataclass(frozen=True)
class FileUri:
    """`file:///absolute/path`: a file on the database server's machine."""

    path: PurePosixPath

    kind = "file"

    def __str__(self) -> str:
        return f"file://{self.path}"


def parse_uri(text: str, *, require_key: bool = True) -> S3Uri | FileUri:
    """Parse an `s3://` or `file://` URI; anything else is an InvalidParameter error."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameter("the storage URI is empty", detail="A URI names an object or a prefix.",
                               hint=_S3_HINT)
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() in ("s3", "file"):
        text = f"{scheme.lower()}://{rest}"  # RFC 3986: schemes are case-insensitive
    if text.startswith("s3://"):
        return parse_s3_uri(text, require_key=require_key)
    if text.startswith("file:"):
        return parse_file_uri(text)
    scheme = text.split(":", 1)[0] if ":" in text else ""
    raise InvalidParameter(
        f"unsupported storage URI \"{_shown(text)}\"",
        detail=f"The scheme \"{_shown(scheme)}\" is not s3 or file." if scheme else "The URI has no scheme.",
        hint=_S3_HINT,
    )


def parse_s3_uri(text: str, *, require_key: bool = True) -> S3Uri:
    """Parse `s3://bucket/key`. With require_key=False, `s3://bucket` and `s3://bucket/` mean the whole bucket."""
    if not text.startswith("s3://"):
        raise InvalidParameter(f"not an S3 URI: \"{_shown(text)}\"", detail="An S3 URI starts with s3://.",
                               hint=_S3_HINT)
    rest = text[len("s3://"):]
    bucket, _, key = rest.partition("/")
    check_bucket(bucket, uri=text)
    if not key:
        if require_key:
            raise InvalidParameter(f"invalid S3 URI \"{_shown(text)}\"", detail="The URI names a bucket but no key.",
                                   hint=_S3_HINT)
        return S3Uri(bucket, "")
    return S3Uri(bucket, check_key(key, uri=text))


def check_bucket(bucket: str, *, uri: str | None = None) -> str:
    """Return `bucket` if it follows S3's bucket naming rules, else raise InvalidParameter."""
    shown = _shown(uri if uri is not None else bucket)
    reason = _bucket_problem(bucket)
    if reason:
        upper = bucket != bucket.lower() and _bucket_problem(bucket.lower()) is None
        raise InvalidParameter(
            f"invalid S3 bucket name in \"{shown}\"", detail=reason,
            hint=(f"Use the bucket's lower-case name (e.g. \"{_shown(bucket.lower())}\"); the objects of a legacy "
                  "bucket whose name has upper-case letters must be copied to one without." if upper else
                  "Bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, "
                  "starting and ending with a letter or digit."),
        )
    return bucket


def _bucket_problem(bucket: str) -> str | None:
    if not bucket:
        return "The bucket name is empty."
    if not 3 <= len(bucket) <= 63:
        return f"The bucket name has {len(bucket)} characters; S3 allows 3 to 63."
    if not _BUCKET_CHARS.fullmatch(bucket):
        if bucket != bucket.lower() and _BUCKET_CHARS.fullmatch(bucket.lower()):
            # Old AWS examples (Aurora's 'sampleBucket', 'myS3Bucket') still show such names.
            return ("The bucket name has upper-case letters: S3 has refused them in new bucket names since "
                    "March 2018, and churnml refuses them always.")
        return ("The bucket name may contain only lowercase letters, digits, dots and hyphens, "
                "and must start and end with a letter or digit.")
    if ".." in bucket:
        return "The bucket name has two adjacent dots."
    if ".-" in bucket or "-." in bucket:
        return "The bucket name has a dot next to a hyphen."
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        pass
    else:
        return "The bucket name is formatted as an IP address."
    for prefix in _RESERVED_BUCKET_PREFIXES:
        if bucket.startswith(prefix):
            return f"Bucket names starting with \"{prefix}\" are reserved."
    for suffix in _RESERVED_BUCKET_SUFFIXES:
        if bucket.endswith(suffix):
            return f"Bucket names ending with \"{suffix}\" are reserved."
    return None


def check_key(key: str, *, uri: str | None = None) -> str:
    """Return `key` if it is a safe S3 object key or prefix, else raise InvalidParameter."""
    reason = _key_problem(key)
    if reason:
        raise InvalidParameter(f"invalid S3 key in \"{_shown(uri if uri is not None else key)}\"", detail=reason,
                               hint=_S3_HINT)
    return key


def _key_problem(key: str) -> str | None:
    if not key:
        return "The key is empty."
    size = len(key.encode("utf-8", errors="surrogatepass"))
    if size > MAX_KEY_BYTES:
        return f"The key is {size} bytes long; S3 allows at most {MAX_KEY_BYTES}."
    if _CONTROL.search(key):
        return "The key contains a control character."
    if key.startswith("/"):
        return "The key starts with \"/\" (write s3://bucket/key, with one slash after the bucket)."
    if "\\" in key:
        return "The key contains a backslash."
    if _ENCODED_SEPARATOR.search(key):
        return "The key contains a percent-encoded \".\", \"/\" or \"\\\" (%2e, %2f or %5c)."
    # A trailing "/" is a folder-style prefix, so only inner segments must be non-empty.
    segments = key.split("/")
    inner = segments[:-1] if key.endswith("/") else segments
    if any(seg == "" for seg in inner):
        return "The key has an empty path segment (\"//\")."
    if any(seg in (".", "..") for seg in segments):
        return "The key has a \".\" or \"..\" path segment."
    return None


def parse_file_uri(text: str) -> FileUri:
    """Parse `file:///absolute/path` (or `file://localhost/absolute/path`)."""
    if not text.startswith("file://"):
        raise InvalidParameter(f"invalid file URI \"{_shown(text)}\"", detail="A file URI starts with file://.",
                               hint=_FILE_HINT)
    rest = text[len("file://"):]
    if rest.startswith("localhost/"):
        rest = rest[len("localhost"):]
    if not rest.startswith("/"):
        raise InvalidParameter(f"invalid file URI \"{_shown(text)}\"",
                               detail="The path must be absolute and name no host.", hint=_FILE_HINT)
    if _CONTROL.search(rest):
        raise InvalidParameter(f"invalid file URI \"{_shown(text)}\"", detail="The path contains a control character.",
                               hint=_FILE_HINT)
    if "?" in rest or "#" in rest:
        raise InvalidParameter(f"invalid file URI \"{_shown(text)}\"",
                               detail="The path contains \"?\" or \"#\".", hint=_FILE_HINT)
    segments = rest.split("/")[1:]
    if any(seg in (".", "..") for seg in segments):
        raise InvalidParameter(f"invalid file URI \"{_shown(text)}\"",
                               detail="The path has a \".\" or \"..\" segment.", hint=_FILE_HINT)
    if rest.endswith("/") or "//" in rest:
        raise InvalidParameter(f"invalid file URI \"{_shown(text)}\"",
                               detail="The path must name a file: no empty segments, no trailing \"/\".",
                               hint=_FILE_HINT)
    return FileUri(PurePosixPath(rest))


def _shown(text: str, limit: int = 200) -> str:
    """The URI as an error message may show it: control characters escaped, long ones cut."""
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return shown if len(shown) <= limit else shown[:limit] + "…"
