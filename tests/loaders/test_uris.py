"""churnml_loaders.uris: what an s3:// or file:// URI may be."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from churnml_loaders.errors import InvalidParameter
from churnml_loaders.uris import FileUri, S3Uri, check_bucket, parse_file_uri, parse_s3_uri, parse_uri


def test_s3_uri_parts() -> None:
    uri = parse_uri("s3://my-bucket.data/exports/2024/customers.csv")
    assert uri == S3Uri("my-bucket.data", "exports/2024/customers.csv")
    assert uri.kind == "s3"
    assert str(uri) == "s3://my-bucket.data/exports/2024/customers.csv"


def test_keys_are_literal() -> None:
    # no percent-decoding, as the AWS CLI: "%41" is a key, not "A"; but a percent-encoded ".", "/" or "\\"
    # is refused, so that no reader (and no server that decodes) takes "%2e%2e" for ".."
    assert parse_s3_uri("s3://abc/a%41/b c+d$").key == "a%41/b c+d$"
    for trick in ("s3://abc/a%2e%2e/b", "s3://abc/a%2F", "s3://abc/%5Cx", "s3://abc/%2E/x"):
        with pytest.raises(InvalidParameter, match="invalid S3 key"):
            parse_s3_uri(trick)
    assert parse_uri("S3://abc/d") == S3Uri("abc", "d")  # RFC 3986: the scheme is case-insensitive
    assert parse_s3_uri("s3://abc/folder/").key == "folder/"


def test_bucket_only_needs_permission() -> None:
    with pytest.raises(InvalidParameter, match="invalid S3 URI") as info:
        parse_s3_uri("s3://abc")
    assert info.value.detail == "The URI names a bucket but no key."
    assert info.value.hint and "s3://bucket/key" in info.value.hint
    assert parse_s3_uri("s3://abc/", require_key=False) == S3Uri("abc", "")


@pytest.mark.parametrize(("bucket", "reason"), [
    ("ab", "3 to 63"),
    ("a" * 64, "3 to 63"),
    ("My-Bucket", "upper-case letters: S3 has refused them"),
    ("-abc", "start and end"),
    ("abc-", "start and end"),
    ("a_b_c", "lowercase"),
    ("a..b", "two adjacent dots"),
    ("a.-b", "dot next to a hyphen"),
    ("192.168.1.10", "IP address"),
    ("xn--abc", "reserved"),
    ("abc-s3alias", "reserved"),
    ("", "empty"),
])
def test_bucket_rules(bucket: str, reason: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        check_bucket(bucket)
    assert info.value.sqlstate == "22023"
    assert reason in (info.value.detail or "")
    assert info.value.hint


@pytest.mark.parametrize(("uri", "reason"), [
    ("s3://abc/a/../b", "\"..\" path segment"),
    ("s3://abc/../etc", "\"..\" path segment"),
    ("s3://abc/./x", "\".\" or \"..\""),
    ("s3://abc/a//b", "empty path segment"),
    ("s3://abc//x", "starts with \"/\""),
    ("s3://abc/a\x00b", "control character"),
    ("s3://abc/a\nb", "control character"),
    ("s3://abc/a\\b", "backslash"),
    ("s3://abc/" + "k" * 1025, "1025 bytes"),
    ("s3://abc/" + "é" * 513, "1026 bytes"),
])
def test_key_rules(uri: str, reason: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_s3_uri(uri)
    assert reason in (info.value.detail or "")
    # the message never carries a raw control character into a log line
    assert "\x00" not in info.value.message and "\n" not in info.value.message


def test_longest_key_is_accepted() -> None:
    assert len(parse_s3_uri("s3://abc/" + "k" * 1024).key) == 1024


def test_file_uri_is_its_own_kind() -> None:
    uri = parse_uri("file:///var/lib/churnml/exports/c.csv")
    assert isinstance(uri, FileUri) and uri.kind == "file"
    assert uri.path == PurePosixPath("/var/lib/churnml/exports/c.csv")
    assert parse_file_uri("file://localhost/tmp/x") == FileUri(PurePosixPath("/tmp/x"))
    assert str(uri) == "file:///var/lib/churnml/exports/c.csv"


@pytest.mark.parametrize("uri", [
    "file://relative/path", "file:relative", "file:///a/../etc/passwd", "file:///a/./b", "file:///tmp/",
    "file:///a//b", "file:///a?b", "file:///a\x00b", "file://otherhost/x",
])
def test_bad_file_uris(uri: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid file URI"):
        parse_uri(uri)


@pytest.mark.parametrize("uri", ["http://x/y", "S3:/abc/d", "/tmp/x", "", "   "])
def test_other_schemes(uri: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_uri(uri)
    assert info.value.hint
