"""churnml_loaders.s3_client against a real S3 server (SeaweedFS, credentials checked), against a
scripted flaky server for the retry and resume paths, and against moto in-process for SSE-KMS (the
local server has no KMS to encrypt with)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from churnml_client.embedded_pg import free_port
from churnml_loaders.errors import (
    InvalidParameter,
    S3AuthenticationFailed,
    S3BucketNotFound,
    S3ConnectionLost,
    S3Error,
    S3ObjectNotFound,
    S3Unreachable,
    error_fields,
)
from churnml_loaders.s3_client import Encryption, S3Client, resolved_credentials
from churnml_loaders.s3_config import S3Config
from tests.conftest import REPO
from tests.loaders.conftest import keys


def _all_text(exc: BaseException) -> str:
    sqlstate, message, detail, hint = error_fields(exc)
    return f"{sqlstate} {message} {detail} {hint} {exc!r} {exc.args}"


def test_put_get_head_list_delete(s3: S3Client, bucket: str) -> None:
    key = "dir/a b+c$é.csv"  # keys needing URI encoding, signed and checked by the server
    etag = s3.put_object(bucket, key, b"hello world")
    info = s3.head_object(bucket, key)
    assert (info.size, info.etag) == (11, etag)
    assert b"".join(s3.get_object(bucket, key)) == b"hello world"
    assert [o.key for o in s3.list_objects(bucket, "dir/")] == [key]
    assert s3.object_exists(bucket, key)
    s3.delete_object(bucket, key)
    assert not s3.object_exists(bucket, key)


def test_get_streams_in_chunks(s3: S3Client, bucket: str) -> None:
    data = os.urandom(300_000)
    s3.put_object(bucket, "blob", data)
    chunks = list(s3.get_object(bucket, "blob", chunk_size=64 * 1024))
    assert len(chunks) == 5 and max(map(len, chunks)) == 64 * 1024
    assert b"".join(chunks) == data


def test_list_paginates(s3: S3Client, bucket: str) -> None:
    for i in range(23):
        s3.put_object(bucket, f"p/{i:03d}", b"x")
    s3.put_object(bucket, "q/other", b"x")
    listed = [o.key for o in s3.list_objects(bucket, "p/", page_size=5)]
    assert listed == [f"p/{i:03d}" for i in range(23)]


def test_delete_objects_in_batches(s3: S3Client, bucket: str) -> None:
    for i in range(7):
        s3.put_object(bucket, f"d/{i}", b"x")
    s3.delete_objects(bucket, [f"d/{i}" for i in range(7)] + ["d/never-existed"])
    assert keys(s3, bucket) == []


def test_multipart_upload(s3: S3Client, bucket: str) -> None:
    first, second = os.urandom(5 * 1024 * 1024), b"the rest"
    upload = s3.create_multipart_upload(bucket, "big")
    parts = [(1, s3.upload_part(bucket, "big", upload, 1, first)),
             (2, s3.upload_part(bucket, "big", upload, 2, memoryview(second)))]
    assert s3.list_multipart_uploads(bucket) == [("big", upload)]
    s3.complete_multipart_upload(bucket, "big", upload, parts)
    assert s3.head_object(bucket, "big").size == len(first) + len(second)
    assert b"".join(s3.get_object(bucket, "big")) == first + second
    assert s3.list_multipart_uploads(bucket) == []


def test_abort_multipart_upload(s3: S3Client, bucket: str) -> None:
    upload = s3.create_multipart_upload(bucket, "gone")
    s3.upload_part(bucket, "gone", upload, 1, b"x")
    s3.abort_multipart_upload(bucket, "gone", upload)
    assert s3.list_multipart_uploads(bucket) == []
    assert keys(s3, bucket) == []


def test_complete_with_too_small_parts_is_an_s3_error(s3: S3Client, bucket: str) -> None:
    upload = s3.create_multipart_upload(bucket, "small")
    parts = [(n, s3.upload_part(bucket, "small", upload, n, b"x")) for n in (1, 2)]
    with pytest.raises(S3Error) as info:
        s3.complete_multipart_upload(bucket, "small", upload, parts)
    assert info.value.sqlstate == "58000" and info.value.s3_code == "EntityTooSmall"
    s3.abort_multipart_upload(bucket, "small", upload)


# ---- errors -------------------------------------------------------------------------------

def test_missing_bucket(s3: S3Client) -> None:
    for call in (lambda: s3.head_bucket("no-such-bucket-x"), lambda: s3.put_object("no-such-bucket-x", "k", b"1"),
                 lambda: s3.head_object("no-such-bucket-x", "k"), lambda: list(s3.list_objects("no-such-bucket-x"))):
        with pytest.raises(S3BucketNotFound) as info:
            call()
        error = info.value
        assert error.sqlstate == "42704"
        assert error.message == "S3 bucket \"no-such-bucket-x\" does not exist"
        assert "S3 code NoSuchBucket" in (error.detail or "") and "HTTP status 404" in (error.detail or "")
        assert "Create the bucket" in (error.hint or "")


def test_missing_key(s3: S3Client, bucket: str) -> None:
    for call in (lambda: s3.head_object(bucket, "nope"), lambda: s3.open_object(bucket, "nope")):
        with pytest.raises(S3ObjectNotFound) as info:
            call()
        assert info.value.sqlstate == "58P01"
        assert f"s3://{bucket}/nope" in info.value.message
        assert "key \"nope\"" in (info.value.detail or "")


def test_invalid_bucket_names_are_refused_by_the_server(s3: S3Client) -> None:
    # the local server enforces S3's naming rules too (3 to 63 characters)
    for name in ("ab", "a" * 64):
        with pytest.raises(S3Error) as info:
            s3.create_bucket(name)
        assert info.value.s3_code == "InvalidBucketName"


@pytest.mark.parametrize("wrong", ["secret", "key id"])
def test_wrong_credentials(s3_config: S3Config, bucket: str, wrong: str) -> None:
    bad_secret = "this-is-the-wrong-secret-0123456789"
    if wrong == "secret":
        config = dataclasses.replace(s3_config, secret_access_key=bad_secret)
        code = "SignatureDoesNotMatch"
    else:
        config = dataclasses.replace(s3_config, access_key_id="AKIAWRONGWRONGWRONG1", secret_access_key=bad_secret)
        code = "InvalidAccessKeyId"
    with S3Client(config) as client:
        for call in (lambda: client.head_bucket(bucket), lambda: client.put_object(bucket, "k", b"x"),
                     lambda: client.head_object(bucket, "k")):
            with pytest.raises(S3AuthenticationFailed) as info:
                call()
            error = info.value
            assert error.sqlstate == "28000" and error.s3_code == code
            assert "credentials configured by the administrator" in (error.hint or "")
            text = _all_text(error)
            assert bad_secret not in text and s3_config.secret_access_key not in text


def test_session_token_never_in_errors(s3_config: S3Config, bucket: str) -> None:
    token = "SESSION-TOKEN-SHOULD-NOT-LEAK"
    with S3Client(dataclasses.replace(s3_config, session_token=token)) as client, \
            pytest.raises(S3AuthenticationFailed) as info:
        client.put_object(bucket, "k", b"x")
    assert token not in _all_text(info.value)


def test_unreachable_endpoint_names_it_not_the_secret() -> None:
    port = free_port()  # nothing listens there
    config = S3Config(endpoint_url=f"http://127.0.0.1:{port}", access_key_id="AKID",
                      secret_access_key="very-secret-value-123", connect_timeout=2)
    with S3Client(config) as client, pytest.raises(S3Unreachable) as info:
        client.put_object("bucket", "key", b"x")
    error = info.value
    assert error.sqlstate == "08001"
    assert f"http://127.0.0.1:{port}" in error.message
    assert "connection refused" in (error.detail or "")
    assert "not reachable" in (error.hint or "")
    assert "very-secret-value-123" not in _all_text(error)


# ---- the AWS credential chain ----------------------------------------------------------

_CHAIN = """
import json, sys
sys.path[:0] = [{loaders!r}]
from churnml_loaders.errors import error_fields, LoaderError
from churnml_loaders.s3_client import S3Client, resolved_credentials
from churnml_loaders.s3_config import S3Config
config = S3Config.from_mapping(json.loads(sys.argv[1]), source="test")
try:
    S3Client(config).head_bucket(sys.argv[2])
    print(json.dumps({{"ok": True, "key": resolved_credentials(config).access_key_id}}))
except LoaderError as exc:
    print(json.dumps({{"ok": False, "error": error_fields(exc)}}))
"""


def _with_chain(config: dict[str, object], bucket: str, env: dict[str, str]) -> dict[str, object]:
    """A fresh process (botocore reads the chain's sources once per session) with only `env`."""
    code = _CHAIN.format(loaders=str(REPO / "loaders"))
    base = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-c", code, json.dumps(config), bucket], env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_without_keys_the_aws_credential_chain_finds_them(s3_config: S3Config, bucket: str, tmp_path: Path) -> None:
    keyless = {"endpoint_url": s3_config.endpoint}
    key, secret = s3_config.access_key_id or "", s3_config.secret_access_key or ""
    # the environment
    found = _with_chain(keyless, bucket, {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    assert found == {"ok": True, "key": key}
    # a profile of the shared credentials file, named in the configuration
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[churnml]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    found = _with_chain({**keyless, "profile": "churnml"}, bucket,
                        {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)})
    assert found == {"ok": True, "key": key}
    # nothing anywhere (instance metadata switched off): 28000, saying where it looked
    found = _with_chain(keyless, bucket, {})
    assert found["ok"] is False
    sqlstate, message, detail, hint = found["error"]  # type: ignore[misc]
    assert sqlstate == "28000" and message.startswith("no S3 credentials found")
    assert "AWS credential chain" in detail and "instance role" in hint


def test_resolved_credentials_keep_configured_keys(s3_config: S3Config) -> None:
    assert resolved_credentials(s3_config) is s3_config


# ---- server-side encryption ------------------------------------------------------------

def test_sse_s3_encrypts_every_object_written(s3_config: S3Config, bucket: str) -> None:
    import botocore.session

    with S3Client(s3_config, encryption=Encryption("AES256")) as client:
        client.put_object(bucket, "enc/one", b"secret rows")
        upload = client.create_multipart_upload(bucket, "enc/multi")
        client.complete_multipart_upload(bucket, "enc/multi", upload,
                                         [(1, client.upload_part(bucket, "enc/multi", upload, 1, b"more rows"))])
        assert b"".join(client.get_object(bucket, "enc/one")) == b"secret rows"  # S3 decrypts for readers
    raw = botocore.session.Session().create_client(
        "s3", endpoint_url=s3_config.endpoint, region_name="us-east-1", aws_access_key_id=s3_config.access_key_id,
        aws_secret_access_key=s3_config.secret_access_key)
    for key in ("enc/one", "enc/multi"):
        assert raw.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"


def test_sse_kms_names_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto, in-process: SeaweedFS serves SSE-KMS only with a KMS configured, and checks nothing more."""
    from moto import mock_aws

    from churnml_loaders import s3_client

    # moto hooks into botocore sessions made after it is imported: not the ones this process keeps
    monkeypatch.setattr(s3_client, "_sessions", {})
    monkeypatch.setattr(s3_client, "_clients", {})

    config = S3Config(region="eu-west-1", access_key_id="AKIAMOTOMOTOMOTO", secret_access_key="moto-secret")
    key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with mock_aws():
        with S3Client(config) as plain:
            plain.create_bucket("sse-kms-bucket")
        with S3Client(config, encryption=Encryption("aws:kms", key_id)) as client:
            client.put_object("sse-kms-bucket", "k", b"x")
            upload = client.create_multipart_upload("sse-kms-bucket", "m")
            client.abort_multipart_upload("sse-kms-bucket", "m", upload)
            answer = client._client.head_object(Bucket="sse-kms-bucket", Key="k")
    assert answer["ServerSideEncryption"] == "aws:kms" and answer["SSEKMSKeyId"] == key_id


def test_encryption_options_are_checked() -> None:
    assert Encryption.of(None) is None
    assert Encryption.of("aws:kms").parameters() == {"ServerSideEncryption": "aws:kms"}
    assert Encryption.of("aws:kms", "alias/x").parameters() == {"ServerSideEncryption": "aws:kms",
                                                                 "SSEKMSKeyId": "alias/x"}
    for bad in (("aes256", None), ("AES256", "alias/x"), (None, "alias/x"), ("aws:kms", " ")):
        with pytest.raises(InvalidParameter):
            Encryption.of(*bad)


# ---- a scripted flaky server --------------------------------------------------------------

class _Script:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.steps: list[Callable[[BaseHTTPRequestHandler], None]] = []


@pytest.fixture
def flaky() -> Iterator[tuple[_Script, S3Config]]:
    script = _Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            headers["x-client"] = str(self.client_address)
            script.seen.append((self.command, self.path, headers))
            script.steps.pop(0)(self)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = S3Config(endpoint_url=f"http://127.0.0.1:{server.server_address[1]}", access_key_id="AKID",
                      secret_access_key="flaky-secret")
    try:
        yield script, config
    finally:
        server.shutdown()
        server.server_close()


def _hang_up(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True  # no answer at all: the client sees the connection drop


def _answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None,
            send: bytes | None = None) -> Callable[[BaseHTTPRequestHandler], None]:
    def step(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body if send is None else send)
        if send is not None:
            handler.close_connection = True
    return step


def test_a_request_is_retried_after_a_dropped_connection(flaky) -> None:
    script, config = flaky
    script.steps += [_hang_up, _answer(200, headers={"ETag": '"e"'})]
    with S3Client(config) as client:
        assert client.put_object("bucket", "key", b"data") == '"e"'
    assert [s[0] for s in script.seen] == ["PUT", "PUT"]


def test_server_errors_are_retried(flaky) -> None:
    script, config = flaky
    script.steps += [_answer(503, b"<Error><Code>SlowDown</Code></Error>"), _answer(200, b"x")]
    with S3Client(config) as client:
        assert b"".join(client.get_object("bucket", "key")) == b"x"


def test_a_connection_that_keeps_breaking_is_08006(flaky) -> None:
    script, config = flaky
    script.steps += [_hang_up] * 8
    with S3Client(config) as client, pytest.raises(S3ConnectionLost) as info:
        client.put_object("bucket", "key", b"data")
    assert info.value.sqlstate == "08006" and "flaky-secret" not in _all_text(info.value)
    # botocore's standard mode: the request and two retries (urllib3 may try a dropped pooled connection again)
    assert 3 <= len(script.seen) <= 6


def test_broken_download_resumes_with_a_range_on_the_same_version(flaky) -> None:
    script, config = flaky
    script.steps += [
        _answer(200, b"0123456789", headers={"ETag": '"v1"'}, send=b"01234"),  # promises 10 bytes, sends 5
        _answer(206, b"56789", headers={"ETag": '"v1"'}),
    ]
    with S3Client(config) as client:
        assert b"".join(client.get_object("bucket", "key", chunk_size=4)) == b"0123456789"
    resume = script.seen[1][2]
    assert resume["range"] == "bytes=5-" and resume["if-match"] == '"v1"'


def test_connections_are_kept_alive(flaky) -> None:
    script, config = flaky
    script.steps += [_answer(200, headers={"ETag": f'"{i}"'}) for i in range(5)]
    with S3Client(config) as client:
        for i in range(5):
            client.put_object("bucket", f"k{i}", b"x")
    assert len({s[2]["x-client"] for s in script.seen}) == 1  # one TCP connection for all five


@pytest.mark.parametrize("key_id", ["key/…", "alias/my key", "x" * 2049, ""])
def test_a_kms_key_id_is_one(key_id: str) -> None:
    """What churnml.storage_locations' CHECK would refuse is refused first, with a message saying why."""
    from churnml_loaders.errors import InvalidParameter

    with pytest.raises(InvalidParameter) as info:
        Encryption("aws:kms", key_id)
    assert info.value.sqlstate == "22023"
    assert Encryption("aws:kms", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
