"""The grant check (churnml.loader_sql.storage_access) on declared locations, outside PostgreSQL:
its refusals name the location and the grant to ask for."""

from __future__ import annotations

import pytest

from churnml.errors import FeatureNotSupported, InsufficientPrivilege
from churnml.loader_sql.storage_access import StorageAccess
from tests.loaders.test_locations import LOCATIONS


def test_the_grant_check_refuses_with_the_grant_to_ask_for() -> None:
    access = StorageAccess("Etl Role", False, LOCATIONS)
    assert access.require("s3://b-1/exports/x", "write").name == "exports"
    with pytest.raises(InsufficientPrivilege) as denied:
        access.require("s3://b-1/exports/secret/x", "read")
    assert denied.value.message == 'permission denied to read storage location "secret"'
    assert 'Role "Etl Role" may not read s3://b-1/exports/secret/x' in denied.value.detail
    assert denied.value.hint.endswith("SELECT churnml.grant_storage('secret', 'read', '\"Etl Role\"');")
    with pytest.raises(InsufficientPrivilege) as uncovered:
        access.require("s3://b-2/in/data.csv", "read")
    assert uncovered.value.message == "no storage location covers s3://b-2/in/data.csv"
    assert "churnml.create_storage_location('name', 's3://b-2/in/')" in uncovered.value.hint
    # superusers pass the grant check, not the location check
    root = StorageAccess("postgres", True, LOCATIONS)
    assert root.require("s3://b-1/exports/secret/x", "write").name == "secret"
    with pytest.raises(InsufficientPrivilege):
        root.require("s3://b-2/x", "read")


def test_every_listed_object_is_checked_and_shares_the_credential() -> None:
    access = StorageAccess("etl", False, LOCATIONS)
    used = access.require("s3://b-1/", "read")
    access.require_each(["s3://b-1/a", "s3://b-1/exports/b"], "read", used, what="a part")
    with pytest.raises(InsufficientPrivilege) as denied:
        access.require_each(["s3://b-1/a", "s3://b-1/exports/secret/p"], "read", used, what="a part the manifest lists")
    assert "(a part the manifest lists)" in denied.value.detail
    with pytest.raises(FeatureNotSupported):
        access.require_each(["s3://b-1/elsewhere/p"], "read", used, what="a part")


def test_a_listing_needs_every_location_nested_under_it() -> None:
    access = StorageAccess("etl", False, LOCATIONS)
    bucket = access.require("s3://b-1/", "read")
    access.require_listing("s3://b-1/elsewhere/", access.require("s3://b-1/elsewhere/", "read"))
    for listing in ("s3://b-1/", "s3://b-1/exp", "s3://b-1/exports/"):
        with pytest.raises(InsufficientPrivilege) as denied:
            access.require_listing(listing, bucket)
        assert '"secret"' in denied.value.message and "would include" in denied.value.detail
    StorageAccess("postgres", True, LOCATIONS).require_listing("s3://b-1/", bucket)
