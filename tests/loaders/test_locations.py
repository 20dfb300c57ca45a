"""Storage locations outside PostgreSQL: prefix normalisation, longest-prefix matching on whole
segments, privileges, and the server configuration's named credentials (the grant check itself is the
backend's: tests/python_udfs/test_loader_sql_storage_access.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from churnml_loaders import server_config
from churnml_loaders.errors import InvalidParameter, NullValueNotAllowed, UndefinedObject
from churnml_loaders.locations import (
    Location,
    check_name,
    covering,
    normalise_prefix,
    parse_privileges,
    suggested_prefix,
    uri_text,
)
from churnml_loaders.uris import parse_uri


@pytest.mark.parametrize(("given", "normal"), [
    ("s3://churnml", "s3://churnml/"),
    ("s3://churnml/", "s3://churnml/"),
    ("S3://ChurnML/Exports", "s3://churnml/Exports/"),  # keys keep their case: S3's keys are case-sensitive
    ("s3://churnml/exports/", "s3://churnml/exports/"),
    ("  s3://churnml/a/b  ", "s3://churnml/a/b/"),
    ("file:///srv/exports", "file:///srv/exports/"),
    ("FILE:///srv/exports/", "file:///srv/exports/"),
])
def test_prefixes_are_normalised(given: str, normal: str) -> None:
    assert normalise_prefix(given) == normal


@pytest.mark.parametrize("bad", [
    None, "", "   ", "churnml/exports", "https://churnml/", "s3:/churnml/", "s3://ab/", "s3://" + "a" * 64 + "/",
    "s3://chur_nml/", "s3://churnml/a//b/", "s3://churnml//", "s3://churnml/../", "s3://churnml/a/./b",
    "s3://churnml/a/%2e%2e/b", "s3://churnml/a%2Fb/", "s3://churnml/a%5cb", "s3://churnml/a\\b", "s3://churnml/a\nb",
    "s3://192.168.1.1/", "file://srv/x", "file:///srv/../etc/", "file:///srv//x/", "file:///srv/%2e%2e/",
])
def test_bad_prefixes_are_refused(bad: str | None) -> None:
    with pytest.raises(InvalidParameter) as info:
        normalise_prefix(bad)
    assert info.value.detail and info.value.hint


def test_names_and_privileges() -> None:
    assert check_name("exports_2") == "exports_2"
    for bad in ("", "Exports", "2x", "a-b", "a" * 64, "x y"):
        with pytest.raises(InvalidParameter):
            check_name(bad)
    with pytest.raises(NullValueNotAllowed) as null:  # 22004, as NULL is everywhere else
        check_name(None)
    assert null.value.sqlstate == "22004"
    assert parse_privileges("read") == ("read",)
    assert parse_privileges(" Write ") == ("write",)
    assert parse_privileges("write, read") == ("read", "write")
    assert parse_privileges("ALL") == ("read", "write")
    for bad in (None, "", "delete", "read, delete", "all, read", "select"):
        with pytest.raises(InvalidParameter):
            parse_privileges(bad)


LOCATIONS = (
    Location("bucket", "s3://b-1/", "default", can_read=True),
    Location("exports", "s3://b-1/exports/", "default", can_read=True, can_write=True),
    Location("secret", "s3://b-1/exports/secret/", "default"),
    Location("other_key", "s3://b-1/elsewhere/", "marketing", can_read=True),
    Location("files", "file:///srv/x/", "default", can_read=True),
)


@pytest.mark.parametrize(("uri", "expected"), [
    ("s3://b-1/exports/c.part_00000", "exports"),
    ("s3://b-1/exports/", "exports"),
    ("s3://b-1/exports", "bucket"),  # the object "exports", or a listing that would reach exports-secret/
    ("s3://b-1/exports-secret/x", "bucket"),  # whole segments: exports/ does not cover exports-secret/
    ("s3://b-1/exports/secret/x", "secret"),  # the longest prefix wins
    ("s3://b-1/exports/secretive/x", "exports"),
    ("s3://b-1/", "bucket"),
    ("s3://b-2/exports/x", None),
    ("s3://b-10/x", None),  # bucket names are whole too
    ("file:///srv/x/y.csv", "files"),
    ("file:///srv/xy.csv", None),
])
def test_the_longest_whole_segment_prefix_covers(uri: str, expected: str | None) -> None:
    found = covering(LOCATIONS, uri)
    assert (found.name if found else None) == expected


def test_uris_are_normalised_before_matching() -> None:
    assert uri_text(parse_uri("S3://b-1/exports/x")) == "s3://b-1/exports/x"
    for trick in ("s3://b-1/exports/../secret/x", "s3://b-1/exports/%2e%2e/x", "s3://b-1/exports/%2F/x",
                  "s3://B-1/exports/x", "s3://b-1/exports//x", "s3://b-1//exports/x"):
        with pytest.raises(InvalidParameter):
            parse_uri(trick)


def test_suggested_prefix() -> None:
    assert suggested_prefix("s3://b-1/in/data.csv") == "s3://b-1/in/"
    assert suggested_prefix("s3://b-1/data.csv") == "s3://b-1/"
    assert suggested_prefix("s3://b-1/") == "s3://b-1/"


CREDENTIAL = {"endpoint_url": "http://127.0.0.1:9000", "access_key_id": "AKIAEXAMPLEKEY1", "secret_access_key": "s1"}


def test_named_credentials_and_the_old_format() -> None:
    named = server_config.parse({"credentials": {"default": CREDENTIAL, "marketing": {**CREDENTIAL,
                                                                                     "region": "eu-west-1"}},
                                 "file_root": "/srv/x"}, source="s3.json")
    assert named.credential("marketing").region == "eu-west-1"
    assert named.s3.access_key_id == "AKIAEXAMPLEKEY1" and str(named.file_root) == os.path.realpath("/srv/x")
    old = server_config.parse(dict(CREDENTIAL), source="s3.json")  # churnml 0.2.0's file: the credential "default"
    assert set(old.credentials) == {"default"} and old.s3.endpoint_url == "http://127.0.0.1:9000"
    with pytest.raises(UndefinedObject) as missing:
        old.credential("marketing", location="mkt")
    assert 'credential "marketing" of storage location "mkt"' in missing.value.message
    assert "s1" not in f"{missing.value.message} {missing.value.detail} {missing.value.hint}"
    for bad in ({"credentials": {}}, {"credentials": []}, {"credentials": {"bad name": CREDENTIAL}},
                {"credentials": {"default": "x"}}, {"credentials": {"default": CREDENTIAL}, "region": "x"},
                {"credentials": {"default": {**CREDENTIAL, "typo": 1}}}):
        with pytest.raises(InvalidParameter) as info:
            server_config.parse(bad, source="s3.json")
        assert "s1" not in f"{info.value.message} {info.value.detail}"


def test_write_file_writes_named_credentials(tmp_path: Path) -> None:
    from churnml_loaders.s3_config import S3Config

    default = S3Config.from_mapping(CREDENTIAL, source="test")
    other = S3Config.from_mapping({**CREDENTIAL, "secret_access_key": "s2"}, source="test")
    path = server_config.write_file(tmp_path, default, "/srv/x", {"marketing": other})
    assert path.stat().st_mode & 0o777 == 0o600
    values = json.loads(path.read_text())
    assert set(values["credentials"]) == {"default", "marketing"} and values["file_root"] == "/srv/x"
    loaded = server_config.parse(values, source=str(path))
    assert loaded.credential("marketing").secret_access_key == "s2"
