"""AWS Signature Version 4 against the examples AWS publishes for S3 (sig-v4-header-based-auth):
access key AKIAIOSFODNN7EXAMPLE, date 2013-05-24, bucket examplebucket, region us-east-1."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from churnml_loaders.s3_client import (
    EMPTY_SHA256,
    canonical_query_string,
    sign_v4,
    signed_headers_for,
    signing_key,
    uri_encode,
)
from churnml_loaders.s3_config import S3Config

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime(2013, 5, 24, tzinfo=UTC)
HOST = "examplebucket.s3.amazonaws.com"
STAMP = "20130524T000000Z"


def _sign(method: str, uri: str, query: list[tuple[str, str]], headers: dict[str, str], payload: str) -> str:
    return sign_v4(method=method, canonical_uri=uri, query=query, headers=headers, payload_hash=payload,
                   region="us-east-1", service="s3", access_key_id=ACCESS_KEY, secret_access_key=SECRET, now=NOW)


def test_get_object_example() -> None:
    auth = _sign("GET", "/test.txt", [], {"Host": HOST, "Range": "bytes=0-9", "x-amz-content-sha256": EMPTY_SHA256,
                                          "x-amz-date": STAMP}, EMPTY_SHA256)
    assert auth == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_put_object_example() -> None:
    payload = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    assert payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    auth = _sign("PUT", "/" + uri_encode("test$file.text", encode_slash=False), [], {
        "Date": "Fri, 24 May 2013 00:00:00 GMT", "Host": HOST, "x-amz-date": STAMP,
        "x-amz-storage-class": "REDUCED_REDUNDANCY", "x-amz-content-sha256": payload}, payload)
    assert "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class," in auth
    assert auth.endswith("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")


@pytest.mark.parametrize(("query", "signature"), [
    ([("lifecycle", "")], "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    # given out of order: the canonical query sorts it
    ([("prefix", "J"), ("max-keys", "2")], "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
])
def test_bucket_examples(query: list[tuple[str, str]], signature: str) -> None:
    auth = _sign("GET", "/", query, {"Host": HOST, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": STAMP},
                 EMPTY_SHA256)
    assert auth.endswith(f"Signature={signature}")


def test_signed_headers_for_builds_the_same_request() -> None:
    config = S3Config(access_key_id=ACCESS_KEY, secret_access_key=SECRET)
    headers = signed_headers_for(config, method="GET", host=HOST, canonical_uri="/test.txt", query=(),
                                 headers={"Range": "bytes=0-9"}, payload_hash=EMPTY_SHA256, now=NOW)
    assert headers["x-amz-date"] == STAMP
    assert headers["authorization"].endswith(
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_session_token_is_sent_and_signed() -> None:
    config = S3Config(access_key_id=ACCESS_KEY, secret_access_key=SECRET, session_token="TOKEN")
    headers = signed_headers_for(config, method="GET", host=HOST, canonical_uri="/", query=(), headers=None,
                                 payload_hash=EMPTY_SHA256, now=NOW)
    assert headers["x-amz-security-token"] == "TOKEN"
    assert "x-amz-security-token" in headers["authorization"].split("SignedHeaders=")[1]
    assert SECRET not in str(headers)


def test_anonymous_requests_are_not_signed() -> None:
    headers = signed_headers_for(S3Config(), method="GET", host=HOST, canonical_uri="/", query=(), headers=None,
                                 payload_hash=EMPTY_SHA256, now=NOW)
    assert "authorization" not in headers


def test_encoding_rules() -> None:
    assert uri_encode("a b+c/é~_.-") == "a%20b%2Bc%2F%C3%A9~_.-"
    assert uri_encode("dir/a b", encode_slash=False) == "dir/a%20b"
    assert canonical_query_string([("uploads", ""), ("prefix", "a/b"), ("list-type", "2")]) == \
        "list-type=2&prefix=a%2Fb&uploads="


def test_signing_key_example() -> None:
    # AWS's documented derived signing key (the general SigV4 guide's example secret, 20150830, IAM)
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
