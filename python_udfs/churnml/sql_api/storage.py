"""SQL area: storage locations and their grants (churnml_admin).

    churnml.create_storage_location(name, uri_prefix, credential, description, if_not_exists, sse, kms_key_id)
    churnml.drop_storage_location(name, if_exists)
    churnml.grant_storage(location, privilege, to_role)
    churnml.revoke_storage(location, privilege, from_role)

They write churnml.storage_locations and churnml.storage_grants as the caller (EXECUTE is
granted to churnml_admin only, and so are INSERT and DELETE on the tables); who and when is
stamped by the tables' trigger. The checks these grants feed are
churnml.loader_sql.storage_access.
"""

from __future__ import annotations

import os
from typing import Any

from churnml.errors import ChurnmlError, DuplicateObject, NullValueNotAllowed, UndefinedObject
from churnml.spi import prepared
from churnml.sql_api.entry import entry
from churnml_loaders import server_config
from churnml_loaders.errors import LoaderError
from churnml_loaders.locations import check_name, normalise_prefix, parse_privileges
from churnml_loaders.s3_client import Encryption

_LOCATION = ("SELECT l.uri_prefix, l.credential, l.sse, l.kms_key_id FROM churnml.storage_locations AS l "
             "WHERE l.name OPERATOR(pg_catalog.=) $1")
_BY_PREFIX = ("SELECT l.name FROM churnml.storage_locations AS l "
              "WHERE l.uri_prefix OPERATOR(pg_catalog.=) $1")
_INSERT = ("INSERT INTO churnml.storage_locations (name, uri_prefix, credential, description, sse, kms_key_id) "
           "VALUES ($1, $2, $3, $4, $5, $6)")
_DELETE = "DELETE FROM churnml.storage_locations WHERE name OPERATOR(pg_catalog.=) $1"
_GRANT = ("INSERT INTO churnml.storage_grants (location, grantee, privilege) "
          "SELECT $1, $2::pg_catalog.regrole, p FROM pg_catalog.unnest($3::pg_catalog.text[]) AS p "
          "ON CONFLICT DO NOTHING")
_REVOKE = ("DELETE FROM churnml.storage_grants WHERE location OPERATOR(pg_catalog.=) $1 "
           "AND grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $2::pg_catalog.regrole::pg_catalog.oid "
           "AND privilege OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[])")


def _location(plpy: Any, name: str) -> dict[str, Any] | None:
    rows = plpy.execute(prepared(plpy, "storage:location", _LOCATION, ["pg_catalog.text"]), [name])
    return rows[0] if rows else None


def _require_location(plpy: Any, name: str | None) -> str:
    name = check_name(name)
    if _location(plpy, name) is None:
        raise UndefinedObject(f"storage location \"{name}\" does not exist",
                              detail="churnml.storage_locations lists the declared locations.",
                              hint=f"Declare it first: SELECT churnml.create_storage_location('{name}', "
                                   "'s3://bucket/prefix/');")
    return name


def _resolved(prefix: str) -> str:
    """A file:// prefix as the server sees it: symbolic links resolved, as file:// URIs are before matching."""
    if not prefix.startswith("file://"):
        return prefix
    real = os.path.realpath(prefix[len("file://"):])
    return "file://" + real.rstrip("/") + "/"


def _warn_unknown_credential(plpy: Any, name: str, credential: str) -> None:
    """A location may be declared before its credential is configured: say so, do not refuse."""
    try:
        config = server_config.load()
    except LoaderError as exc:
        plpy.warning(f"churnml: cannot check credential \"{credential}\" of storage location \"{name}\": "
                     f"{exc.message}")
        return
    if credential not in config.credentials:
        plpy.warning(f"churnml: credential \"{credential}\" of storage location \"{name}\" is not configured "
                     f"on this server yet ({config.source} has: {', '.join(sorted(config.credentials))}); "
                     "exports and loads there fail until it is")


@entry
def create_location(plpy: Any, name: str | None, uri_prefix: str | None, credential: str | None,
                    description: str | None, if_not_exists: bool | None, sse: str | None = None,
                    kms_key_id: str | None = None) -> str:
    name = check_name(name)
    prefix = _resolved(normalise_prefix(uri_prefix))
    Encryption.of(sse, kms_key_id)  # 22023 for an unknown algorithm or a key id without aws:kms
    credential = credential if credential is not None else server_config.DEFAULT_CREDENTIAL
    if not server_config.CREDENTIAL_NAME.fullmatch(credential):
        raise InvalidCredentialName(credential)
    existing = _location(plpy, name)
    if existing is not None:
        if not if_not_exists:
            raise DuplicateObject(f"storage location \"{name}\" already exists",
                                  detail=f"It is {existing['uri_prefix']}, with credential "
                                         f"\"{existing['credential']}\".",
                                  hint="Pass if_not_exists => true to keep it, or drop it first with "
                                       f"churnml.drop_storage_location('{name}').")
        same = (existing["uri_prefix"], existing["credential"], existing["sse"], existing["kms_key_id"]) == (
            prefix, credential, sse, kms_key_id)
        plpy.notice(f"churnml: storage location \"{name}\" already exists, skipping"
                    + ("" if same else f" (it is {existing['uri_prefix']} with credential "
                                       f"\"{existing['credential']}\", not what was asked)"))
        return str(existing["uri_prefix"])
    other = plpy.execute(prepared(plpy, "storage:by_prefix", _BY_PREFIX, ["pg_catalog.text"]), [prefix])
    if other:
        raise DuplicateObject(f"storage location \"{other[0]['name']}\" already has the prefix {prefix}",
                              detail="Each prefix belongs to one location, so each URI has one location.",
                              hint=f"Grant churnml.grant_storage('{other[0]['name']}', ...) instead, or choose "
                                   "a longer prefix.")
    insert = prepared(plpy, "storage:insert", _INSERT, ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text",
                                                         "pg_catalog.text", "pg_catalog.text", "pg_catalog.text"])
    plpy.execute(insert, [name, prefix, credential, description, sse, kms_key_id])
    _warn_unknown_credential(plpy, name, credential)
    return prefix


class InvalidCredentialName(ChurnmlError):
    sqlstate = "22023"

    def __init__(self, credential: str) -> None:
        super().__init__("invalid credential name",
                         detail="A credential's name is 1 to 64 letters, digits, '_', '.' or '-'; the credential "
                                "itself is configured in $PGDATA/churnml/s3.json, never in SQL.",
                         hint="Pass the name of a credential under \"credentials\" in the server's s3.json, "
                              "e.g. 'default'.")
        self.credential = credential  # not in the message: a secret pasted by mistake must not reach the log


@entry
def drop_location(plpy: Any, name: str | None, if_exists: bool | None) -> None:
    name = check_name(name)
    deleted = plpy.execute(prepared(plpy, "storage:delete", _DELETE, ["pg_catalog.text"]), [name]).nrows()
    if deleted:
        return
    if not if_exists:
        raise UndefinedObject(f"storage location \"{name}\" does not exist",
                              detail="churnml.storage_locations lists the declared locations.",
                              hint="Pass if_exists => true to ignore a missing location.")
    plpy.notice(f"churnml: storage location \"{name}\" does not exist, skipping")


@entry
def grant(plpy: Any, location: str | None, privilege: str | None, role: str | None) -> None:
    """`role` is the regrole argument's text form (PL/Python passes it so), cast back in SQL."""
    privileges = parse_privileges(privilege)
    location = _require_location(plpy, location)
    if role is None:
        raise NullValueNotAllowed("to_role must name a role", detail="It is NULL.",
                                  hint="Pass a role name, e.g. 'etl'.")
    plan = prepared(plpy, "storage:grant", _GRANT, ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text[]"])
    plpy.execute(plan, [location, role, list(privileges)])


@entry
def revoke(plpy: Any, location: str | None, privilege: str | None, role: str | None) -> None:
    privileges = parse_privileges(privilege)
    location = _require_location(plpy, location)
    if role is None:
        raise NullValueNotAllowed("from_role must name a role", detail="It is NULL.",
                                  hint="Pass a role name, e.g. 'etl'.")
    plpy.execute(prepared(plpy, "storage:revoke", _REVOKE, ["pg_catalog.text", "pg_catalog.text",
                                                            "pg_catalog.text[]"]),
                 [location, role, list(privileges)])
