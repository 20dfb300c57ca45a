"""Which storage locations the calling role may read and write: checked before any storage request.

    access = StorageAccess.fetch(plpy)                          # one SPI query per export or load
    location = access.require("s3://b/exports/c", "read")      # the location to use, or 42501
    access.require_each(part_uris, "read", location)            # every object a listing or manifest names

`current_user` may use a location when it, or a role whose privileges it inherits
(pg_has_role(..., 'USAGE'), as for PostgreSQL's own privileges), was granted the
privilege with churnml.grant_storage. A superuser passes the grant check, but still
needs a location: the location names the credential. Nothing is granted by default.

The grants are read once per call, with the caller's own rights: churnml_loader may
read churnml.storage_locations (names and prefixes, so a refusal can name the location
to ask for) and, through row-level security, only its own rows of
churnml.storage_grants. Matching every object against them is plain Python
(churnml_loaders.locations), so a 100-part manifest costs no more queries than one object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from churnml.errors import FeatureNotSupported, InsufficientPrivilege, sql_literal
from churnml.spi import Plpy, prepared
from churnml_loaders.locations import Location, covering, suggested_prefix

# One row per location, or one row of NULLs when there is none (so the role is always known).
_FETCH = """
    SELECT me.role, me.superuser, l.name, l.uri_prefix, l.credential, l.sse, l.kms_key_id,
           EXISTS (SELECT FROM churnml.storage_grants AS g
                   WHERE g.location OPERATOR(pg_catalog.=) l.name AND g.privilege OPERATOR(pg_catalog.=) 'read'
                     AND g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (me.roles)) AS can_read,
           EXISTS (SELECT FROM churnml.storage_grants AS g
                   WHERE g.location OPERATOR(pg_catalog.=) l.name AND g.privilege OPERATOR(pg_catalog.=) 'write'
                     AND g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (me.roles)) AS can_write
    FROM (SELECT CURRENT_USER::pg_catalog.text AS role,
                 (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
                     AS superuser,
                 -- the roles whose privileges current_user has; pg_has_role is only asked about roles that exist
                 ARRAY(SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))
                     AS roles) AS me
    LEFT JOIN churnml.storage_locations AS l ON true"""

_VERB = {"read": "read", "write": "write to"}


def _role_literal(role: str) -> str:
    """A role name as a regrole literal in a hint: quoted as an identifier where it needs it."""
    plain = role.isascii() and role.replace("_", "a").isalnum() and role == role.lower() and not role[0].isdigit()
    return sql_literal(role if plain else '"' + role.replace('"', '""') + '"')


@dataclass(frozen=True)
class StorageAccess:
    role: str
    superuser: bool
    locations: tuple[Location, ...]

    @classmethod
    def fetch(cls, plpy: Plpy) -> StorageAccess:
        rows = list(plpy.execute(prepared(plpy, "storage:access", _FETCH, [])))
        locations = tuple(Location(r["name"], r["uri_prefix"], r["credential"], bool(r["can_read"]),
                                   bool(r["can_write"]), r["sse"], r["kms_key_id"])
                          for r in rows if r["name"] is not None)
        return cls(rows[0]["role"], bool(rows[0]["superuser"]), locations)

    def require(self, uri: str, privilege: str, *, what: str = "") -> Location:
        """The location covering `uri` if this role may `privilege` there; 42501 otherwise."""
        location = covering(self.locations, uri)
        verb = _VERB[privilege]
        if location is None:
            folder = suggested_prefix(uri)
            raise InsufficientPrivilege(
                f"no storage location covers {uri}",
                detail=(f"churnml may {verb} {what or 'object storage'} only under a storage location an "
                        "administrator declared (churnml.storage_locations), and no location's prefix is a "
                        "prefix of this URI."),
                hint=(f"An administrator declares one and grants it, e.g. SELECT churnml.create_storage_location("
                      f"'name', {sql_literal(folder)}); SELECT churnml.grant_storage('name', {sql_literal(privilege)}, "
                      f"{_role_literal(self.role)});"))
        if not (self.superuser or location.allows(privilege)):
            raise InsufficientPrivilege(
                f"permission denied to {verb} storage location \"{location.name}\"",
                detail=(f"Role \"{self.role}\" may not {verb} {uri}{' (' + what + ')' if what else ''}: "
                        f"it lies in location \"{location.name}\" ({location.uri_prefix}), on which the role has "
                        f"no {privilege} privilege."),
                hint=(f"An administrator can grant it: SELECT churnml.grant_storage({sql_literal(location.name)}, "
                      f"{sql_literal(privilege)}, {_role_literal(self.role)});"))
        return location

    def require_listing(self, uri: str, used: Location) -> None:
        """A prefix listing reaches every location nested under its prefix: each must be readable too.
        Checked on the declared prefixes, before the listing, so a refusal names a location, never a key."""
        for location in self.locations:
            if location is used or not location.uri_prefix.startswith(uri) or self.superuser or location.can_read:
                continue
            raise InsufficientPrivilege(
                f"permission denied to read storage location \"{location.name}\"",
                detail=(f"Role \"{self.role}\" may not read {location.uri_prefix} (location \"{location.name}\"), "
                        f"which a listing of {uri} would include."),
                hint=(f"List a prefix outside it, or an administrator grants it: SELECT churnml.grant_storage("
                      f"{sql_literal(location.name)}, 'read', {_role_literal(self.role)});"))

    def require_each(self, uris: Iterable[str], privilege: str, used: Location, *, what: str) -> None:
        """Every object a listing, a manifest or an overwrite names: each in a location this role may
        `privilege`, and each read or written with the credential of `used` (the URI's location)."""
        for uri in uris:
            location = self.require(uri, privilege, what=what)
            if location.credential != used.credential:
                raise FeatureNotSupported(
                    f"{uri} is in storage location \"{location.name}\", which uses another credential",
                    detail=(f"One export or load uses one credential: \"{used.credential}\" of location "
                            f"\"{used.name}\", but \"{location.name}\" uses \"{location.credential}\"."),
                    hint="Load or export the objects of each location separately.")
