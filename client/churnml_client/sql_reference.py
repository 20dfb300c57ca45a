"""`churnml docs sql-reference`: docs/sql-reference.md, generated from the catalog.

Everything comes from a database where the extension(s) are installed: the objects
an extension owns (pg_depend deptype 'e'), their COMMENTs, signatures, columns and
ACLs. The only other input is the extension's install script as the server has it
(read with pg_read_file), and only for its `-- ---- sql/NNN_area.sql ----` markers:
they say which area (sql/ file) created which object. Objects the script does not
name (or when the script cannot be read) are grouped by schema instead.

Names starting with `_` are internal: callable, but not API; they get a short
section of their own. The output is deterministic: objects are sorted, owners and
grantors (which depend on who installed the extension) are left out.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

COMMAND = "churnml docs sql-reference"
DEFAULT_EXTENSION = "churnml"
OPTIONAL_EXTENSIONS = ("churnml_aws",)
DEFAULT_OUT = Path("docs/sql-reference.md")
# Areas the install script does not name sort after those it does.
UNMAPPED_AREA_ORDER = 1_000_000

_PRIVILEGE_ORDER = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "EXECUTE",
                    "USAGE", "CREATE", "CONNECT", "TEMPORARY")
_ARG_MODES = {"i": "", "o": "OUT ", "b": "INOUT ", "v": "VARIADIC ", "t": ""}
_VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}
_PARALLEL = {"s": "PARALLEL SAFE", "r": "PARALLEL RESTRICTED", "u": "PARALLEL UNSAFE"}
_FUNCTION_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
_RELATION_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view",
                   "f": "foreign table", "S": "sequence"}
_TYPE_KINDS = {"c": "composite type", "e": "enum", "d": "domain", "r": "range type", "m": "multirange type",
               "b": "base type", "p": "pseudo-type"}
# Sections of an area, in this order.
_KIND_GROUPS = (("routine", "Functions"), ("relation", "Tables and views"), ("type", "Types"),
                ("schema", "Schemas"), ("other", "Other objects"))
ONE_LINE_SIGNATURE = 88


# ---- the model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    grantee: str
    privileges: tuple[str, ...]


@dataclass(frozen=True)
class Argument:
    name: str
    mode: str  # pg_proc.proargmodes letter: i, o, b, v, t
    type: str
    default: str | None = None


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    identity: str = ""  # pg_attribute.attidentity: '', 'a' always, 'd' by default
    generated: bool = False
    comment: str | None = None


@dataclass(frozen=True)
class SqlObject:
    """One member of an extension. `group` is one of the keys of _KIND_GROUPS."""

    group: str
    kind: str
    schema: str
    name: str
    comment: str | None
    grants: tuple[Grant, ...] = ()
    # routines
    identity: str = ""
    arguments: tuple[Argument, ...] = ()
    result: str | None = None
    volatility: str = ""
    parallel: str = ""
    strict: bool = False
    security_definer: bool = False
    # relations and composite types
    columns: tuple[Column, ...] = ()
    constraints: tuple[tuple[str, str], ...] = ()
    sequences: tuple[SqlObject, ...] = ()
    owned_by: str = ""  # for sequences: the column that owns them
    # enums and domains
    labels: tuple[str, ...] = ()
    base_type: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def internal(self) -> bool:
        """Functions whose names start with `_`: callable, but not API (types keep Aurora's `_s3_uri_1`)."""
        return self.group == "routine" and self.name.startswith("_")

    def sort_key(self) -> tuple[int, str, str, str]:
        group_index = [key for key, _ in _KIND_GROUPS].index(self.group)
        return (group_index, self.schema, self.name, self.identity)


@dataclass(frozen=True)
class Role:
    name: str
    member_of: tuple[str, ...]
    comment: str | None


@dataclass(frozen=True)
class Area:
    order: int
    title: str


@dataclass
class ExtensionReference:
    name: str
    version: str
    comment: str | None
    schema: SqlObject
    requires: tuple[str, ...]
    objects: list[tuple[Area, SqlObject]] = field(default_factory=list)
    roles: tuple[Role, ...] = ()


# ---- pure helpers (unit-tested without a server) ------------------------------------------------

def area_title(path: str) -> str:
    """'sql/400_call_center.sql' -> 'Call center'."""
    stem = re.sub(r"^\d+[_-]", "", Path(path).stem).replace("_", " ").replace("-", " ").strip()
    return stem[:1].upper() + stem[1:] if stem else path


_SECTION = re.compile(r"^-- ---- (?P<path>\S+\.sql) ----[ \t]*$", re.MULTILINE)
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_@][\w@$]*)'
_CREATE = re.compile(
    r"^[ \t]*CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNLOGGED\s+)?"
    r"(?:FUNCTION|PROCEDURE|AGGREGATE|TABLE|MATERIALIZED\s+VIEW|VIEW|TYPE|DOMAIN|SCHEMA|SEQUENCE|FOREIGN\s+TABLE)"
    rf"\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME}(?:\s*\.\s*{_NAME})?)",
    re.MULTILINE | re.IGNORECASE,
)


def _unquote(identifier: str) -> str:
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def split_name(text: str) -> tuple[str | None, str]:
    """'churnml.train' -> ('churnml', 'train'); '@extschema@.f' and 'f' -> (None, 'f')."""
    parts = [p.strip() for p in re.findall(rf"{_NAME}", text)]
    if len(parts) == 1:
        return None, _unquote(parts[0])
    schema = None if parts[0] == "@extschema@" else _unquote(parts[0])
    return schema, _unquote(parts[1])


def script_areas(script: str) -> dict[tuple[str | None, str], Area]:
    """Which area (sql/ file, from the build's section markers) creates each object; first one wins.

    Keys are (schema, name); schema None when the script does not qualify the name.
    A script without markers maps nothing: its objects are then grouped by schema.
    """
    sections = list(_SECTION.finditer(script))
    # An area is a file name: sql/schema/100_registry.sql (its tables, created first) and
    # sql/100_registry.sql (its functions) are one area, in file-name order (sql/README.md).
    order = {name: i for i, name in enumerate(sorted({Path(s["path"]).name for s in sections}))}
    areas: dict[tuple[str | None, str], Area] = {}
    for index, section in enumerate(sections):
        end = sections[index + 1].start() if index + 1 < len(sections) else len(script)
        area = Area(order[Path(section["path"]).name], area_title(section["path"]))
        for match in _CREATE.finditer(script, section.end(), end):
            areas.setdefault(split_name(match["name"]), area)
    return areas


def area_of(obj: SqlObject, areas: dict[tuple[str | None, str], Area]) -> Area:
    found = areas.get((obj.schema, obj.name)) or areas.get((None, obj.name))
    return found or Area(UNMAPPED_AREA_ORDER, f"Schema {obj.schema or obj.name}")


def sort_privileges(privileges: Iterable[str]) -> tuple[str, ...]:
    def key(privilege: str) -> tuple[int, str]:
        kind = privilege.split(" ", 1)[0]  # "INSERT (a, b)": a column grant sorts with its privilege
        return (_PRIVILEGE_ORDER.index(kind) if kind in _PRIVILEGE_ORDER else len(_PRIVILEGE_ORDER), privilege)

    return tuple(sorted(set(privileges), key=key))


def grants_from_pairs(pairs: Iterable[Sequence[str]]) -> tuple[Grant, ...]:
    """[(grantee, privilege), ...] -> one Grant per grantee, PUBLIC first, then by name."""
    by_grantee: dict[str, list[str]] = {}
    for grantee, privilege in pairs:
        by_grantee.setdefault(grantee, []).append(privilege)
    order = sorted(by_grantee, key=lambda g: (g != "PUBLIC", g))
    return tuple(Grant(g, sort_privileges(by_grantee[g])) for g in order)


def format_grants(grants: Sequence[Grant]) -> str:
    return "; ".join(f"`{g.grantee}`: {', '.join(g.privileges)}" for g in grants)


def format_argument(arg: Argument) -> str:
    text = f"{_ARG_MODES.get(arg.mode, '')}{arg.name + ' ' if arg.name else ''}{arg.type}"
    return f"{text} DEFAULT {arg.default}" if arg.default is not None else text


def _parenthesized(items: Sequence[str], multiline: bool) -> str:
    if not multiline:
        return "(" + ", ".join(items) + ")"
    if not items:
        return "()"
    return "(\n" + ",\n".join(f"    {item}" for item in items) + "\n)"


def format_signature(obj: SqlObject, width: int = ONE_LINE_SIGNATURE) -> str:
    """The call signature as SQL: argument names, modes, types, defaults and the return type.

    One line when it fits in `width`, otherwise one argument (and one TABLE column) per line.
    """
    params = [format_argument(a) for a in obj.arguments if a.mode != "t"]
    table = [format_argument(a) for a in obj.arguments if a.mode == "t"]

    def render(multiline: bool) -> str:
        text = obj.qualified + _parenthesized(params, multiline)
        if table:
            text += " RETURNS TABLE " + _parenthesized(table, multiline)
        elif obj.result is not None:
            text += f" RETURNS {obj.result}"
        return text

    one_line = render(False)
    return one_line if len(one_line) <= width else render(True)


def routine_properties(obj: SqlObject) -> str:
    parts = [_VOLATILITY.get(obj.volatility, ""), _PARALLEL.get(obj.parallel, "")]
    if obj.strict:
        parts.append("STRICT")
    if obj.security_definer:
        parts.append("SECURITY DEFINER")
    if obj.kind != "function":
        parts.insert(0, obj.kind.upper())
    return ", ".join(p for p in parts if p)


def cell(text: str | None) -> str:
    """Text for a Markdown table cell: pipes escaped, line breaks as <br>."""
    if not text:
        return ""
    return text.strip().replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def column_modifiers(column: Column) -> str:
    parts = []
    if column.not_null:
        parts.append("not null")
    if column.identity:
        parts.append("identity (always)" if column.identity == "a" else "identity (by default)")
    elif column.generated and column.default:
        parts.append(f"generated: `{column.default}`")
    elif column.default:
        parts.append(f"default `{column.default}`")
    return ", ".join(parts)


def describe(comment: str | None) -> str:
    text = (comment or "").strip()
    return text if text else "*(no comment)*"


class Slugger:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to '-', repeats get -1, -2..."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def slug(self, heading: str) -> str:
        base = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = self.seen.get(base, 0)
        self.seen[base] = count + 1
        return base if count == 0 else f"{base}-{count}"


# ---- rendering -----------------------------------------------------------------------------

class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.slugger = Slugger()

    def heading(self, level: int, text: str) -> str:
        self.blank()
        self.lines.append(f"{'#' * level} {text}")
        self.lines.append("")
        return self.slugger.slug(text)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)


def _columns_table(columns: Sequence[Column], *, modifiers: bool) -> list[str]:
    if modifiers:
        rows = ["| Column | Type | Modifiers | Description |", "|---|---|---|---|"]
        rows += [f"| `{c.name}` | `{cell(c.type)}` | {cell(column_modifiers(c))} | {cell(c.comment)} |"
                 for c in columns]
    else:
        rows = ["| Column | Type | Description |", "|---|---|---|"]
        rows += [f"| `{c.name}` | `{cell(c.type)}` | {cell(c.comment)} |" for c in columns]
    return rows


def _render_routines(out: _Writer, overloads: Sequence[SqlObject]) -> str:
    slug = out.heading(4, f"`{overloads[0].qualified}`")
    for obj in overloads:
        out.blank()
        out.add("```sql", format_signature(obj), "```", "", describe(obj.comment), "")
        execute = [g.grantee for g in obj.grants if "EXECUTE" in g.privileges]
        out.add(f"- {routine_properties(obj)}",
                "- EXECUTE: " + (", ".join(f"`{g}`" for g in execute) if execute
                                 else "nobody but the owner and superusers"))
    return slug


def _render_relation(out: _Writer, obj: SqlObject) -> str:
    slug = out.heading(4, f"`{obj.qualified}`")
    out.add(f"*{obj.kind.capitalize()}.* {describe(obj.comment)}", "")
    if obj.columns:
        out.add(*_columns_table(obj.columns, modifiers=obj.kind != "view"), "")
    if obj.constraints:
        out.add("Constraints:", "", *[f"- `{name}`: `{definition}`" for name, definition in obj.constraints], "")
    out.add(f"Privileges: {format_grants(obj.grants) or 'the owner and superusers only'}")
    for seq in obj.sequences:
        owner = f" (for `{seq.owned_by}`)" if seq.owned_by else ""
        out.add("", f"Sequence `{seq.qualified}`{owner}: {format_grants(seq.grants) or 'no grants'}")
    return slug


def _render_type(out: _Writer, obj: SqlObject) -> str:
    slug = out.heading(4, f"`{obj.qualified}`")
    out.add(f"*{obj.kind.capitalize()}.* {describe(obj.comment)}", "")
    if obj.columns:
        out.add("| Attribute | Type | Description |", "|---|---|---|",
                *[f"| `{c.name}` | `{cell(c.type)}` | {cell(c.comment)} |" for c in obj.columns], "")
    if obj.labels:
        out.add("Values: " + ", ".join(f"`{label}`" for label in obj.labels), "")
    if obj.base_type:
        out.add(f"Based on `{obj.base_type}`.", "")
    if obj.constraints:
        out.add(*[f"- `{name}`: `{definition}`" for name, definition in obj.constraints], "")
    return slug


def _render_other(out: _Writer, obj: SqlObject) -> str:
    slug = out.heading(4, f"`{obj.qualified}`")
    out.add(f"*{obj.kind.capitalize()}.* {describe(obj.comment)}")
    if obj.grants:
        out.add("", f"Privileges: {format_grants(obj.grants)}")
    return slug


def _grouped(objects: Sequence[SqlObject]) -> Iterator[list[SqlObject]]:
    """Consecutive routines of the same name (overloads) together; every other object alone."""
    batch: list[SqlObject] = []
    for obj in objects:
        if batch and (obj.group != "routine" or batch[0].group != "routine"
                      or (obj.schema, obj.name) != (batch[0].schema, batch[0].name)):
            yield batch
            batch = []
        batch.append(obj)
    if batch:
        yield batch


def _render_object(out: _Writer, batch: list[SqlObject]) -> str:
    first = batch[0]
    if first.group == "routine":
        return _render_routines(out, batch)
    if first.group == "relation":
        return _render_relation(out, first)
    if first.group == "type":
        return _render_type(out, first)
    return _render_other(out, first)


def _render_internal(out: _Writer, objects: Sequence[SqlObject]) -> None:
    out.add("Callable by the roles named, but not API: they may change without notice.", "")
    for obj in objects:
        execute = [f"`{g.grantee}`" for g in obj.grants if "EXECUTE" in g.privileges]
        who = ", ".join(execute) if execute else "owner only"
        out.add(f"- `{obj.qualified}({obj.identity})` (EXECUTE: {who}): {describe(obj.comment)}")


def _render_extension(out: _Writer, ext: ExtensionReference) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Renders one extension; returns its table of contents: (area title, slug, [(object, slug)])."""
    out.heading(2, f"Extension `{ext.name}` {ext.version}")
    out.add(describe(ext.comment), "")
    if ext.requires:
        out.add("Requires: " + ", ".join(f"`{r}`" for r in ext.requires) + ".", "")
    usage = [f"`{g.grantee}`" for g in ext.schema.grants if "USAGE" in g.privileges]
    out.add(f"Schema `{ext.schema.name}` (USAGE: {', '.join(usage) or 'owner only'}).", "")
    if ext.roles:
        out.add("Roles named in the privileges below (roles are cluster-wide and not part of the extension; "
                "a member of a role has its privileges):", "",
                "| Role | Member of | Comment |", "|---|---|---|",
                *[f"| `{r.name}` | {', '.join(f'`{m}`' for m in r.member_of)} | {cell(r.comment)} |"
                  for r in ext.roles], "")
    toc: list[tuple[str, str, list[tuple[str, str]]]] = []
    public = [(a, o) for a, o in ext.objects if not o.internal]
    for area in sorted({a for a, _ in public}, key=lambda a: (a.order, a.title)):
        slug = out.heading(3, area.title)
        entries: list[tuple[str, str]] = []
        members = sorted((o for a, o in public if a == area), key=SqlObject.sort_key)
        for batch in _grouped(members):
            entries.append((batch[0].qualified, _render_object(out, batch)))
        toc.append((area.title, slug, entries))
    internal = sorted((o for _, o in ext.objects if o.internal), key=SqlObject.sort_key)
    if internal:
        toc.append(("Internal", out.heading(3, "Internal"), []))
        _render_internal(out, internal)
    return toc


def render(extensions: Sequence[ExtensionReference], command: str = COMMAND) -> str:
    """The whole Markdown document."""
    out = _Writer()
    out.heading(1, "SQL reference")
    preamble_at = len(out.lines)
    tocs = [(ext, _render_extension(out, ext)) for ext in extensions]
    preamble = [
        f"Generated by `{command}` from the catalog (COMMENT ON, signatures, ACLs) of a fresh database "
        "with the extensions installed: edit the COMMENTs in `sql/` and regenerate, never this file. "
        "Names starting with `_` are internal: listed under *Internal*, callable but not API.",
        "",
        "Contents:",
        "",
    ]
    for ext, toc in tocs:
        preamble.append(f"- Extension `{ext.name}`")
        for title, slug, entries in toc:
            objects = ", ".join(f"[`{name.split('.', 1)[-1]}`](#{s})" for name, s in entries)
            preamble.append(f"  - [{title}](#{slug})" + (f": {objects}" if objects else ""))
    lines = out.lines[:preamble_at] + preamble + [""] + out.lines[preamble_at:]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


# ---- reading the catalog --------------------------------------------------------------------------

def _grants_sql(acl: str, kind: str, owner: str) -> sql.Composable:
    """A subquery: the ACL (or the default one) as [[grantee, privilege], ...] without the owner's entry."""
    return sql.SQL(
        "(SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array("
        "CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee) END, g.privilege_type)), "
        "'[]') FROM pg_catalog.aclexplode(coalesce({acl}, pg_catalog.acldefault({kind}, {owner}))) AS g "
        "WHERE g.grantee <> {owner})"
    ).format(acl=sql.Identifier(*acl.split(".")), kind=sql.Literal(kind), owner=sql.Identifier(*owner.split(".")))


def _members(conn: psycopg.Connection[Any], extension: str) -> dict[str, list[int]]:
    rows = conn.execute(
        "SELECT d.classid::pg_catalog.regclass::text, d.objid FROM pg_catalog.pg_depend AS d "
        "JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid "
        "WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e' "
        "AND e.extname = %s", (extension,)).fetchall()
    members: dict[str, list[int]] = {}
    for catalog, oid in rows:
        members.setdefault(catalog, []).append(oid)
    return members


def _routine_arguments(conn: psycopg.Connection[Any], oid: int) -> tuple[Argument, ...]:
    rows = conn.execute(
        "SELECT coalesce(p.proargnames[a.ord], ''), coalesce(p.proargmodes[a.ord], 'i')::text, "
        "pg_catalog.format_type(a.typ, NULL), pg_catalog.pg_get_function_arg_default(p.oid, a.ord::int) "
        "FROM pg_catalog.pg_proc AS p, "
        "pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[])) WITH ORDINALITY AS a(typ, ord) "
        "WHERE p.oid = %s ORDER BY a.ord", (oid,)).fetchall()
    return tuple(Argument(name, mode, typ, default) for name, mode, typ, default in rows)


def _routines(conn: psycopg.Connection[Any], oids: list[int]) -> list[SqlObject]:
    query = sql.SQL(
        "SELECT p.oid, n.nspname, p.proname, p.prokind::text, pg_catalog.pg_get_function_result(p.oid), "
        "p.provolatile::text, p.proparallel::text, p.proisstrict, p.prosecdef, "
        "pg_catalog.obj_description(p.oid, 'pg_proc'), pg_catalog.oidvectortypes(p.proargtypes), {grants} "
        "FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE p.oid = ANY(%s)").format(grants=_grants_sql("p.proacl", "f", "p.proowner"))
    objects = []
    for (oid, schema, name, kind, result, volatility, parallel, strict, secdef, comment, identity,
         grants) in conn.execute(query, (oids,)).fetchall():
        objects.append(SqlObject(
            group="routine", kind=_FUNCTION_KINDS.get(kind, "function"), schema=schema, name=name, comment=comment,
            grants=grants_from_pairs(grants), identity=identity, arguments=_routine_arguments(conn, oid),
            result=result, volatility=volatility, parallel=parallel, strict=strict, security_definer=secdef))
    return objects


def _columns(conn: psycopg.Connection[Any], relid: int) -> tuple[Column, ...]:
    rows = conn.execute(
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated <> '', "
        "pg_catalog.col_description(a.attrelid, a.attnum) "
        "FROM pg_catalog.pg_attribute AS a LEFT JOIN pg_catalog.pg_attrdef AS d "
        "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (relid,)).fetchall()
    return tuple(Column(name, typ, notnull, default, identity, generated, comment)
                 for name, typ, notnull, default, identity, generated, comment in rows)


def _constraints(conn: psycopg.Connection[Any], column: str, oid: int) -> tuple[tuple[str, str], ...]:
    query = sql.SQL(
        "SELECT conname, pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint "
        "WHERE {column} = %s ORDER BY conname").format(column=sql.Identifier(column))
    return tuple((name, definition) for name, definition in conn.execute(query, (oid,)).fetchall())


def _relations(conn: psycopg.Connection[Any], oids: list[int]) -> list[SqlObject]:
    query = sql.SQL(
        "SELECT c.oid, n.nspname, c.relname, c.relkind::text, pg_catalog.obj_description(c.oid, 'pg_class'), "
        "{grants}, "
        # column grants, as [grantee, "INSERT (a, b)"]: what a role may write when it may not write every column
        "(SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(x.grantee, "
        "   x.privilege_type || ' (' || x.columns || ')') ORDER BY x.grantee, x.privilege_type), '[]') "
        " FROM (SELECT pg_catalog.pg_get_userbyid(g.grantee) AS grantee, g.privilege_type, "
        "         pg_catalog.string_agg(a.attname::text, ', ' ORDER BY a.attnum) AS columns "
        "       FROM pg_catalog.pg_attribute AS a, pg_catalog.aclexplode(a.attacl) AS g "
        "       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND g.grantee <> c.relowner "
        "       GROUP BY 1, 2) AS x), "
        "(SELECT a.attname::text "
        "  FROM pg_catalog.pg_depend AS d JOIN pg_catalog.pg_attribute AS a "
        "  ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        "  WHERE c.relkind = 'S' AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid "
        "  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0 "
        "  AND d.deptype IN ('a', 'i') LIMIT 1), "
        "(SELECT d.refobjid FROM pg_catalog.pg_depend AS d WHERE c.relkind = 'S' "
        "  AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid "
        "  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0 "
        "  AND d.deptype IN ('a', 'i') LIMIT 1) "
        "FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE c.oid = ANY(%s)").format(grants=_grants_sql("c.relacl", "r", "c.relowner"))
    rows = conn.execute(query, (oids,)).fetchall()
    owned: dict[int, list[SqlObject]] = {}
    objects = []
    for oid, schema, name, relkind, comment, table_grants, column_grants, owned_by, owner_oid in rows:
        grants = table_grants + column_grants
        kind = _RELATION_KINDS.get(relkind, f"relation ({relkind})")
        if relkind == "S":
            seq = SqlObject(group="relation", kind=kind, schema=schema, name=name, comment=comment,
                            grants=grants_from_pairs(grants), owned_by=owned_by or "")
            if owner_oid in oids:
                owned.setdefault(owner_oid, []).append(seq)
            else:
                objects.append((oid, seq))
            continue
        columns = _columns(conn, oid)
        constraints = _constraints(conn, "conrelid", oid) if relkind in ("r", "p", "f") else ()
        objects.append((oid, SqlObject(group="relation", kind=kind, schema=schema, name=name, comment=comment,
                                       grants=grants_from_pairs(grants), columns=columns, constraints=constraints)))
    result = []
    for oid, obj in objects:
        sequences = tuple(sorted(owned.get(oid, []), key=lambda s: s.name))
        result.append(replace(obj, sequences=sequences) if sequences else obj)
    return result


def _types(conn: psycopg.Connection[Any], oids: list[int]) -> list[SqlObject]:
    rows = conn.execute(
        "SELECT t.oid, n.nspname, t.typname, t.typtype::text, t.typrelid, "
        "pg_catalog.obj_description(t.oid, 'pg_type'), "
        "CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END, "
        "ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum AS e WHERE e.enumtypid = t.oid "
        "      ORDER BY e.enumsortorder) "
        "FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace "
        "WHERE t.oid = ANY(%s)", (oids,)).fetchall()
    objects = []
    for oid, schema, name, typtype, relid, comment, base, labels in rows:
        objects.append(SqlObject(
            group="type", kind=_TYPE_KINDS.get(typtype, "type"), schema=schema, name=name, comment=comment,
            columns=_columns(conn, relid) if relid else (), labels=tuple(labels), base_type=base or "",
            constraints=_constraints(conn, "contypid", oid) if typtype == "d" else ()))
    return objects


def _schemas(conn: psycopg.Connection[Any], oids: list[int]) -> list[SqlObject]:
    query = sql.SQL(
        "SELECT n.nspname, pg_catalog.obj_description(n.oid, 'pg_namespace'), {grants} "
        "FROM pg_catalog.pg_namespace AS n WHERE n.oid = ANY(%s)").format(
        grants=_grants_sql("n.nspacl", "n", "n.nspowner"))
    return [SqlObject(group="schema", kind="schema", schema="", name=name, comment=comment,
                      grants=grants_from_pairs(grants))
            for name, comment, grants in conn.execute(query, (oids,)).fetchall()]


def _others(conn: psycopg.Connection[Any], catalog: str, oids: list[int]) -> list[SqlObject]:
    rows = conn.execute(
        "SELECT pg_catalog.pg_describe_object(%s::pg_catalog.regclass, o, 0), "
        "pg_catalog.obj_description(o, %s) FROM pg_catalog.unnest(%s::pg_catalog.oid[]) AS o",
        (catalog, catalog.removeprefix("pg_catalog."), oids)).fetchall()
    objects = []
    for description, comment in rows:
        kind, _, name = description.partition(" ")
        objects.append(SqlObject(group="other", kind=kind, schema="", name=name or description, comment=comment))
    return objects


def extension_objects(conn: psycopg.Connection[Any], extension: str) -> list[SqlObject]:
    """Every member of `extension`, sequences owned by a member table folded into that table."""
    members = _members(conn, extension)
    objects: list[SqlObject] = []
    for catalog, oids in sorted(members.items()):
        if catalog == "pg_proc":
            objects += _routines(conn, oids)
        elif catalog == "pg_class":
            objects += _relations(conn, oids)
        elif catalog == "pg_type":
            objects += _types(conn, oids)
        elif catalog == "pg_namespace":
            objects += _schemas(conn, oids)
        else:
            objects += _others(conn, catalog, oids)
    return sorted(objects, key=SqlObject.sort_key)


def _install_script(conn: psycopg.Connection[Any], extension: str) -> str | None:
    """The extension's install script as the server has it; None when it cannot be read (not superuser...)."""
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT pg_catalog.pg_read_file(s.setting || '/extension/' || e.extname || '--' || e.extversion "
                "|| '.sql') FROM pg_catalog.pg_config AS s, pg_catalog.pg_extension AS e "
                "WHERE s.name = 'SHAREDIR' AND e.extname = %s", (extension,)).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def _roles(conn: psycopg.Connection[Any], names: Iterable[str]) -> tuple[Role, ...]:
    documented = sorted(names)
    # Memberships among the documented roles only: roles are cluster-wide, and one another database's
    # extension made (aws_ml, which churnml_admin is given) says nothing about this one.
    rows = conn.execute(
        "SELECT r.rolname, ARRAY(SELECT g.rolname::text FROM pg_catalog.pg_auth_members AS m "
        "  JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid WHERE m.member = r.oid AND g.rolname = ANY(%s) "
        "  ORDER BY 1), "
        "pg_catalog.shobj_description(r.oid, 'pg_authid') "
        "FROM pg_catalog.pg_roles AS r WHERE r.rolname = ANY(%s) ORDER BY r.rolname",
        (documented, documented)).fetchall()
    return tuple(Role(name, tuple(member_of), comment) for name, member_of, comment in rows)


def _all_grants(obj: SqlObject) -> Iterator[Grant]:
    yield from obj.grants
    for seq in obj.sequences:
        yield from seq.grants


def read_extension(conn: psycopg.Connection[Any], extension: str) -> ExtensionReference:
    row = conn.execute(
        "SELECT e.extversion, pg_catalog.obj_description(e.oid, 'pg_extension'), n.oid, "
        "coalesce((SELECT v.requires::text[] FROM pg_catalog.pg_available_extension_versions AS v "
        "  WHERE v.name = e.extname AND v.version = e.extversion), '{}') "
        "FROM pg_catalog.pg_extension AS e JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace "
        "WHERE e.extname = %s", (extension,)).fetchone()
    if row is None:
        raise ValueError(f"extension {extension} is not installed in this database "
                         f"(CREATE EXTENSION {extension} CASCADE there, or name the extensions to document "
                         "with --extension)")
    version, comment, schema_oid, requires = row
    schema = _schemas(conn, [schema_oid])[0]
    objects = extension_objects(conn, extension)
    areas = script_areas(_install_script(conn, extension) or "")
    grantees = {g.grantee for obj in objects for g in _all_grants(obj)} | {g.grantee for g in schema.grants}
    grantees.discard("PUBLIC")
    return ExtensionReference(
        name=extension, version=version, comment=comment, schema=schema, requires=tuple(sorted(requires)),
        objects=[(area_of(obj, areas), obj) for obj in objects], roles=_roles(conn, grantees))


def generate(conn: psycopg.Connection[Any], extensions: Sequence[str]) -> str:
    """The Markdown reference of `extensions`, installed in the database `conn` is connected to."""
    conn.execute("SET search_path = pg_catalog")  # every non-catalog name comes out schema-qualified
    return render([read_extension(conn, name) for name in extensions])


# ---- which extensions, and a scratch database ------------------------------------------------------

def default_extensions(conn: psycopg.Connection[Any]) -> list[str]:
    """churnml, plus each optional extension whose control file the server has."""
    available = {name for (name,) in conn.execute(
        "SELECT name FROM pg_catalog.pg_available_extensions WHERE name = ANY(%s)",
        (list(OPTIONAL_EXTENSIONS),)).fetchall()}
    return [DEFAULT_EXTENSION, *[name for name in OPTIONAL_EXTENSIONS if name in available]]


def create_extensions(conn: psycopg.Connection[Any], extensions: Sequence[str]) -> None:
    for name in extensions:
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} CASCADE").format(sql.Identifier(name)))


def _with_database(url: str, database: str) -> str:
    from urllib.parse import quote, urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + quote(database, safe="")))


def generate_in_scratch_database(admin_url: str, extensions: Sequence[str] | None) -> str:
    """CREATE DATABASE, CREATE EXTENSION ... CASCADE, generate, DROP DATABASE (also on failure)."""
    name = f"churnml_sqlref_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(_with_database(admin_url, name), autocommit=True) as conn:
            chosen = list(extensions) if extensions else default_extensions(conn)
            create_extensions(conn, chosen)
            return generate(conn, chosen)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def generate_from_dsn(dsn: str, extensions: Sequence[str] | None) -> str:
    """From an existing database: the extensions must be installed there already."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return generate(conn, list(extensions) if extensions else default_extensions(conn))


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
