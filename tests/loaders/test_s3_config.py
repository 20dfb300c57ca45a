"""churnml_loaders.s3_config: where the endpoint and credentials come from, and that secrets stay hidden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churnml_loaders.errors import InvalidParameter
from churnml_loaders.s3_config import S3Config, write_config_file

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN"


def test_from_environment() -> None:
    config = S3Config.from_environment({
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN,
        "AWS_REGION": "eu-west-3", "CHURNML_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    })
    assert config.endpoint == "http://127.0.0.1:9000"
    assert config.region == "eu-west-3"
    assert config.session_token == TOKEN
    assert config.addressing_style == "path"
    assert config.source == "the environment"


def test_defaults_to_aws() -> None:
    config = S3Config.from_environment({"AWS_DEFAULT_REGION": "us-west-2"})
    assert config.endpoint == "https://s3.us-west-2.amazonaws.com"
    assert not config.has_credentials


def test_repr_never_shows_secrets() -> None:
    config = S3Config(endpoint_url="http://127.0.0.1:9000", access_key_id="AKIAIOSFODNN7EXAMPLE",
                      secret_access_key=SECRET, session_token=TOKEN)
    for text in (repr(config), str(config), f"{config}", repr([config])):
        assert SECRET not in text and TOKEN not in text
        assert "AKIAIOSFODNN7EXAMPLE" not in text
        assert "…MPLE" in text and "<set>" in text
    assert config.secrets() == (SECRET, TOKEN)


def test_file_round_trip(tmp_path: Path) -> None:
    config = S3Config(endpoint_url="http://127.0.0.1:9000", access_key_id="AKID", secret_access_key=SECRET)
    path = tmp_path / "s3" / "config.json"
    write_config_file(config, path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = S3Config.from_file(path)
    assert loaded == config
    assert loaded.source == f"file \"{path}\""


def test_world_readable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"access_key_id": "a", "secret_access_key": SECRET}))
    path.chmod(0o644)
    with pytest.raises(InvalidParameter, match="readable or writable by every user") as info:
        S3Config.from_file(path)
    assert "chmod 600" in (info.value.hint or "")
    path.chmod(0o640)
    assert S3Config.from_file(path).access_key_id == "a"


@pytest.mark.parametrize(("content", "message"), [
    ('{"acess_key_id": "typo"}', "unknown key"),
    ('{"access_key_id": "only-the-id"}', "incomplete S3 credentials"),
    ('{"endpoint_url": "ftp://x"}', "invalid S3 endpoint URL"),
    ('{"endpoint_url": "http://x:9000/bucket"}', "invalid S3 endpoint URL"),
    ('{"addressing_style": "sideways"}', "addressing style"),
    ('{"read_timeout": -1}', "read timeout"),
    ('{"region": 3}', "invalid value"),
    ('[1, 2]', "JSON object"),
])
def test_bad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(InvalidParameter, match=message):
        S3Config.from_file(path)


def test_bad_json_does_not_echo_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"secret_access_key": "' + SECRET + '" oops}')
    path.chmod(0o600)
    with pytest.raises(InvalidParameter) as info:
        S3Config.from_file(path)
    assert SECRET not in f"{info.value.message} {info.value.detail} {info.value.hint}"


def test_endpoint_with_credentials_is_refused_without_echo() -> None:
    with pytest.raises(InvalidParameter) as info:
        S3Config(endpoint_url=f"http://user:{SECRET}@127.0.0.1:9000")
    assert SECRET not in f"{info.value.message} {info.value.detail} {info.value.hint}"


def test_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="does not exist") as info:
        S3Config.from_file(tmp_path / "nope.json")
    assert "churnml s3 start" in (info.value.hint or "")
