"""Storage locations: the URI prefixes an administrator declared, and which one covers a URI.

A location is a name, a URI prefix and the name of the server-side credential it uses
(churnml.storage_locations); roles are granted `read` and `write` on it
(churnml.storage_grants). Every export, load, listing, overwrite and manifest part is
checked against the location that covers its URI: the **longest** declared prefix that
the URI starts with. Prefixes are kept in one normal form, so a plain string prefix
test is a test on whole path segments:

    s3://bucket/                  the whole bucket
    s3://bucket/exports/          everything under exports/ — but not exports-secret/
    file:///srv/exports/          a directory of the server (file:// stays admin-only)

The normal form always ends with "/", has a lowercase scheme and bucket, and no empty,
"." or ".." segment, control character, backslash or percent-encoded ".", "/" or "\\"
(S3 takes keys literally, so such a key could not name anything else, but a reader of
a grant could be misled). The table's CHECK constraints refuse anything else, so an
admin writing the table directly cannot store a prefix that matches differently.
URIs are parsed (churnml_loaders.uris) into the same form before they are matched.

Pure Python: the SQL side (one query per call) is the backend's churnml.loader_sql.storage_access.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from churnml_loaders.errors import InvalidParameter, NullValueNotAllowed
from churnml_loaders.uris import FileUri, S3Uri, check_bucket, check_key

PRIVILEGES = ("read", "write")
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_PREFIX_BYTES = 1100
_PREFIX_HINT = "Write it as s3://bucket/ or s3://bucket/some/prefix/ (or file:///directory/ for server files)."


@dataclass(frozen=True)
class Location:
    """A declared location and what the calling role may do there."""

    name: str
    uri_prefix: str
    credential: str
    can_read: bool = False
    can_write: bool = False
    sse: str | None = None          # server-side encryption of what is written there (AES256, aws:kms)
    kms_key_id: str | None = None

    def allows(self, privilege: str) -> bool:
        return self.can_read if privilege == "read" else self.can_write


def check_name(name: str | None) -> str:
    if name is None:
        raise NullValueNotAllowed("the storage location name must not be NULL",
                                  hint="For example 'exports' or 'marketing_in'.")
    if not NAME.fullmatch(name):
        raise InvalidParameter(f"invalid storage location name {_shown(name)}",
                               detail="A location's name is 1 to 63 lowercase letters, digits and underscores, "
                                      "starting with a letter.",
                               hint="For example 'exports' or 'marketing_in'.")
    return name


def normalise_prefix(text: str | None) -> str:
    """A location's URI prefix in normal form, or InvalidParameter (22023) saying why not."""
    if text is None or not text.strip():
        raise InvalidParameter("the storage location's URI prefix is empty", detail="A prefix names where it starts.",
                               hint=_PREFIX_HINT)
    text = text.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("s3", "file"):
        raise InvalidParameter(f"unsupported storage location prefix {_shown(text)}",
                               detail="A location's prefix is an s3:// or file:// URI.", hint=_PREFIX_HINT)
    if scheme == "file":
        return _file_prefix(text, rest)
    bucket, _, key = rest.partition("/")
    if key and not key.endswith("/"):
        key += "/"  # a prefix is a folder: s3://b/exports covers exports/..., never exports-secret/...
    try:
        bucket = check_bucket(bucket.lower(), uri=text)
        if key:
            check_key(key, uri=text)
    except InvalidParameter as exc:
        raise InvalidParameter(f"invalid storage location prefix {_shown(text)}", detail=exc.detail,
                               hint=_PREFIX_HINT) from None
    prefix = f"s3://{bucket}/{key}"
    if len(prefix.encode("utf-8", errors="surrogatepass")) > MAX_PREFIX_BYTES:
        raise InvalidParameter(f"storage location prefix {_shown(text)} is too long",
                               detail=f"At most {MAX_PREFIX_BYTES} bytes.", hint=_PREFIX_HINT)
    return prefix


def _file_prefix(text: str, path: str) -> str:
    if not path.startswith("/"):
        raise InvalidParameter(f"invalid file:// location prefix {_shown(text)}",
                               detail="The directory must be an absolute path and name no host.", hint=_PREFIX_HINT)
    segments = [s for s in path.rstrip("/").split("/")[1:]]
    if any(s in ("", ".", "..") for s in segments) or _SUSPICIOUS.search(path):
        raise InvalidParameter(f"invalid file:// location prefix {_shown(text)}",
                               detail="The directory has an empty, \".\" or \"..\" segment, a control character, "
                                      "a backslash or a percent-encoded \".\", \"/\" or \"\\\".", hint=_PREFIX_HINT)
    return "file:///" + "".join(f"{s}/" for s in segments)


_SUSPICIOUS = re.compile(r"[\x00-\x1f\x7f\\]|%(?:2e|2f|5c)", re.IGNORECASE)


def uri_text(uri: S3Uri | FileUri) -> str:
    """A parsed URI as the string prefixes are matched against."""
    if isinstance(uri, S3Uri):
        return f"s3://{uri.bucket}/{uri.key}"
    return f"file://{uri.path}"


def covering(locations: Iterable[Location], uri: str) -> Location | None:
    """The location whose prefix is the longest one `uri` starts with (None: no location covers it)."""
    best: Location | None = None
    for location in locations:
        if uri.startswith(location.uri_prefix) and (best is None or len(location.uri_prefix) > len(best.uri_prefix)):
            best = location
    return best


def parse_privileges(text: str | None) -> tuple[str, ...]:
    """'read', 'write', 'read, write' or 'all' (as GRANT spells them), in a fixed order."""
    words = {w.strip().lower() for w in (text or "").split(",")}
    if "all" in words and len(words) == 1:
        return PRIVILEGES
    if not words or not words <= set(PRIVILEGES):
        raise InvalidParameter(f"invalid storage privilege {_shown(text)}",
                               detail="A storage privilege is read (load, list), write (export, overwrite), "
                                      "both ('read, write') or 'all'.",
                               hint="For example churnml.grant_storage('exports', 'read', 'etl').")
    return tuple(p for p in PRIVILEGES if p in words)


def suggested_prefix(uri: str) -> str:
    """The folder a URI lies in: what an administrator would most likely declare for it."""
    scheme, _, rest = uri.partition("://")
    head, _, _ = rest.rpartition("/")
    return f"{scheme}://{head}/" if head else f"{scheme}://{rest}/"


def _shown(text: str | None, limit: int = 120) -> str:
    if text is None:
        return "NULL"
    shown = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)
    return '"' + (shown if len(shown) <= limit else shown[:limit] + "…") + '"'
