"""A hostile search_path: objects that shadow pg_catalog's must never be picked up by churnml.

An attacker — an ordinary login role with CREATE on schema `evil` only — fills it
with look-alikes of what churnml's SQL uses: functions (lower, now, to_regclass,
set_config, format_type, unnest, row_to_json, ...), aggregates (count, array_agg,
string_agg), operators (=, <>, <, <=, >, ||, ->, ->>), relations (pg_class,
pg_attribute, ..., and churnml's and the application's table names) and domains
named like built-in types (text, float8, jsonb, ...). Each one, when evaluated,
advances the attacker's sequence (non-transactional, so an error or rollback
cannot hide it) and raises a WARNING naming itself. Look-alikes come in two kinds:
exact signatures, which win when `evil` is searched before pg_catalog, and better
matches (lower(varchar), =(varchar, varchar), =(oid, regclass),
has_column_privilege(regclass, text, text), ...), which win even when pg_catalog
is searched first. COALESCE, NULLIF, CASE and the like are grammar, not names,
so they cannot be shadowed.

Victims — a churnml_user and a churnml_admin — then run churnml's main functions
with `evil` first in their search_path, once with pg_catalog implicitly first
(`evil, public, churnml`) and once with `evil` ahead of it
(`evil, pg_catalog, public, churnml`), each time on a fresh connection so that
churnml's prepared statements are planned under that path. Results must equal a
clean search_path's and no look-alike may have run. The positive controls prove
every kind of trap fires for SQL that does not qualify its names.
"""

from __future__ import annotations

import ast
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.conftest import REPO, TEST_HOME
from tests.sql.conftest import declare_storage, telco_with_aws, writable_directory

PASSWORD = f"pw-{secrets.token_hex(8)}"
BUCKET = "churnml"
CLEAN = None
EVIL_AFTER_CATALOG = "evil, public, churnml"  # pg_catalog is implicitly searched first
EVIL_FIRST = "evil, pg_catalog, public, churnml"  # evil ahead of pg_catalog
HOSTILE_PATHS = [EVIL_AFTER_CATALOG, EVIL_FIRST]
MESSAGES = ["You morons! You charged me extra again!", "Thank you very much for resolving the issues with my bill!",
            "How do I dial Morocco?", "I love the coverage but the bill is way too high"]

# (signature, result type, expression over $1..$n): each becomes
# evil.<signature> = CASE WHEN evil.hit('<signature>') THEN <expression> END.
FUNCTIONS = [
    ("lower(text)", "text", "pg_catalog.lower($1)"),
    ("lower(varchar)", "text", "pg_catalog.lower($1)"),  # a better match than pg_catalog.lower(text)
    ("upper(text)", "text", "pg_catalog.upper($1)"),
    ("md5(text)", "text", "pg_catalog.md5($1)"),
    ("md5(varchar)", "text", "pg_catalog.md5($1)"),
    ("now()", "timestamptz", "pg_catalog.now()"),
    ("clock_timestamp()", "timestamptz", "pg_catalog.clock_timestamp()"),
    ("statement_timestamp()", "timestamptz", "pg_catalog.statement_timestamp()"),
    ("date_part(text, timestamptz)", "float8", "pg_catalog.date_part($1, $2)"),
    ("current_setting(text)", "text", "pg_catalog.current_setting($1)"),
    ("current_setting(text, boolean)", "text", "pg_catalog.current_setting($1, $2)"),
    ("set_config(text, text, boolean)", "text", "pg_catalog.set_config($1, $2, $3)"),
    ("format_type(oid, integer)", "text", "pg_catalog.format_type($1, $2)"),
    ("to_regclass(text)", "regclass", "pg_catalog.to_regclass($1)"),
    ("to_regclass(varchar)", "regclass", "pg_catalog.to_regclass($1::pg_catalog.text)"),
    ("quote_ident(text)", "text", "pg_catalog.quote_ident($1)"),
    ("replace(text, text, text)", "text", "pg_catalog.replace($1, $2, $3)"),
    ("row_to_json(record)", "json", "pg_catalog.row_to_json($1)"),
    ("to_json(anyelement)", "json", "pg_catalog.to_json($1)"),
    ("to_jsonb(anyelement)", "jsonb", "pg_catalog.to_jsonb($1)"),
    ("jsonb_build_object(VARIADIC text[])", "jsonb", "pg_catalog.jsonb_object($1)"),
    ("jsonb_populate_record(anyelement, jsonb)", "anyelement", "pg_catalog.jsonb_populate_record($1, $2)"),
    ("string_to_array(text, text)", "text[]", "pg_catalog.string_to_array($1, $2)"),
    ("string_to_array(text, text, text)", "text[]", "pg_catalog.string_to_array($1, $2, $3)"),
    ("array_length(anyarray, integer)", "integer", "pg_catalog.array_length($1, $2)"),
    ("float8send(float8)", "bytea", "pg_catalog.float8send($1)"),
    ("pg_has_role(name, text, text)", "boolean", "pg_catalog.pg_has_role($1, $2, $3)"),
    ("pg_has_role(name, name, text)", "boolean", "pg_catalog.pg_has_role($1, $2, $3)"),
    ("has_column_privilege(regclass, text, text)", "boolean",  # better than (oid, text, text)
     "pg_catalog.has_column_privilege($1::pg_catalog.oid, $2, $3)"),
    ("currval(regclass)", "bigint", "pg_catalog.currval($1)"),
]
SET_FUNCTIONS = [
    ("unnest(anyarray)", "anyelement", "SELECT pg_catalog.unnest($1) WHERE evil.hit('unnest(anyarray)')"),
    ("json_array_elements_text(json)", "text",
     "SELECT pg_catalog.json_array_elements_text($1) WHERE evil.hit('json_array_elements_text(json)')"),
]
# (operator, left, right, result, expression)
OPERATORS = [
    ("=", "text", "text", "boolean", "$1 OPERATOR(pg_catalog.=) $2"),
    ("=", "bigint", "bigint", "boolean", "$1 OPERATOR(pg_catalog.=) $2"),
    ("=", "integer", "integer", "boolean", "$1 OPERATOR(pg_catalog.=) $2"),
    ("=", "oid", "oid", "boolean", "$1 OPERATOR(pg_catalog.=) $2"),
    ("=", "name", "name", "boolean", "$1 OPERATOR(pg_catalog.=) $2"),
    ("=", "name", "text", "boolean", "$1 OPERATOR(pg_catalog.=) $2"),
    ("=", "varchar", "varchar", "boolean", "$1::pg_catalog.text OPERATOR(pg_catalog.=) $2::pg_catalog.text"),
    ("=", "oid", "regclass", "boolean", "$1 OPERATOR(pg_catalog.=) $2::pg_catalog.oid"),
    ("<>", "text", "text", "boolean", "$1 OPERATOR(pg_catalog.<>) $2"),
    ("<", "timestamptz", "timestamptz", "boolean", "$1 OPERATOR(pg_catalog.<) $2"),
    ("<=", "timestamptz", "timestamptz", "boolean", "$1 OPERATOR(pg_catalog.<=) $2"),
    (">", "float8", "float8", "boolean", "$1 OPERATOR(pg_catalog.>) $2"),
    ("||", "text", "text", "text", "$1 OPERATOR(pg_catalog.||) $2"),
    ("||", "bytea", "bytea", "bytea", "$1 OPERATOR(pg_catalog.||) $2"),
    ("->", "jsonb", "text", "jsonb", "$1 OPERATOR(pg_catalog.->) $2"),
    ("->>", "jsonb", "text", "text", "$1 OPERATOR(pg_catalog.->>) $2"),
    ("->", "json", "text", "json", "$1 OPERATOR(pg_catalog.->) $2"),
    ("->>", "json", "text", "text", "$1 OPERATOR(pg_catalog.->>) $2"),
]
CATALOG_RELATIONS = ["pg_class", "pg_attribute", "pg_namespace", "pg_index", "pg_roles", "pg_type", "pg_proc",
                     "pg_depend"]
NAMED_RELATIONS = ["customers", "customer_message", "models", "deployments", "current_deployments", "offer_log",
                   "incentive_rules", "incentive_inputs", "experiments", "call_center_settings",
                   "call_center_config", "load_history"]
DOMAINS = ["text", "float8", "int8", "int4", "jsonb", "json", "oid", "regclass", "name", "bytea", "timestamptz",
           "bool", "numeric"]

# SQL that does not qualify its names, per path: each statement must trip the trap.
CONTROLS = {
    EVIL_AFTER_CATALOG: [
        "SELECT lower('X'::varchar)",
        "SELECT md5('x'::varchar)",
        "SELECT 'a'::varchar = 'b'::varchar",
        "SELECT c.oid = to_regclass('pg_catalog.pg_class') FROM pg_catalog.pg_class AS c LIMIT 1",
        "SELECT has_column_privilege('pg_catalog.pg_class'::regclass, 'relname', 'SELECT')",
    ],
    EVIL_FIRST: [
        "SELECT lower('X')",
        "SELECT now()",
        "SELECT current_setting('search_path')",
        "SELECT count(*) FROM (VALUES (1), (2)) AS v(x)",
        "SELECT array_agg(x) FROM (VALUES (1), (2)) AS v(x)",
        "SELECT string_agg(x, ',') FROM (VALUES ('a'), ('b')) AS v(x)",
        "SELECT 1::bigint = 2::bigint",
        "SELECT '{\"a\": 1}'::jsonb ->> 'a'",
        "SELECT relname FROM pg_class LIMIT 1",
        "SELECT count(*) FROM customers",
        "SELECT 'x'::text",
        "SELECT to_regclass('pg_catalog.pg_class')",
        "SELECT unnest(ARRAY[1, 2])",
    ],
}


def role_url(url: str, role: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{role}:{PASSWORD}@{parts.hostname}:{parts.port}").geturl()


def attacker_ddl() -> list[str]:
    """The attacker's objects, created by the attacker's own login."""
    statements = [
        "CREATE SEQUENCE evil.hijacks",
        # SECURITY DEFINER so that every victim can advance the attacker's counter.
        """CREATE FUNCTION evil.hit(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
           SET search_path = pg_catalog, pg_temp AS $$
           BEGIN
               PERFORM pg_catalog.nextval('evil.hijacks');
               RAISE WARNING 'churnml search_path hijack: %', what;
               RETURN true;
           END $$""",
    ]
    for signature, result, expression in FUNCTIONS:
        literal = signature.replace("'", "''")
        if "(record)" in signature:  # SQL functions take no record arguments
            statements.append(f"CREATE FUNCTION evil.{signature} RETURNS {result} LANGUAGE plpgsql VOLATILE AS "
                              f"$$ BEGIN PERFORM evil.hit('{literal}'); RETURN {expression}; END $$")
            continue
        statements.append(f"CREATE FUNCTION evil.{signature} RETURNS {result} LANGUAGE sql VOLATILE AS "
                          f"$$ SELECT CASE WHEN evil.hit('{literal}') THEN {expression} END $$")
    for signature, result, body in SET_FUNCTIONS:
        statements.append(f"CREATE FUNCTION evil.{signature} RETURNS SETOF {result} LANGUAGE sql VOLATILE AS "
                          f"$$ {body} $$")
    for number, (op, left, right, result, expression) in enumerate(OPERATORS):
        function = f"evil.op_{number}"
        statements.append(f"CREATE FUNCTION {function}({left}, {right}) RETURNS {result} LANGUAGE sql VOLATILE AS "
                          f"$$ SELECT CASE WHEN evil.hit('operator {op}({left}, {right})') THEN {expression} END $$")
        statements.append(f"CREATE OPERATOR evil.{op} (LEFTARG = {left}, RIGHTARG = {right}, FUNCTION = {function})")
    statements += [
        """CREATE FUNCTION evil.count_step(bigint) RETURNS bigint LANGUAGE sql VOLATILE AS
           $$ SELECT CASE WHEN evil.hit('count(*)') THEN $1 OPERATOR(pg_catalog.+) 1 END $$""",
        "CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = bigint, INITCOND = '0')",
        """CREATE FUNCTION evil.array_agg_step(anyarray, anynonarray) RETURNS anyarray LANGUAGE sql VOLATILE AS
           $$ SELECT CASE WHEN evil.hit('array_agg(anynonarray)') THEN pg_catalog.array_append($1, $2) END $$""",
        "CREATE AGGREGATE evil.array_agg(anynonarray) (SFUNC = evil.array_agg_step, STYPE = anyarray)",
        """CREATE FUNCTION evil.string_agg_step(text, text, text) RETURNS text LANGUAGE sql VOLATILE AS
           $$ SELECT CASE WHEN evil.hit('string_agg(text, text)') THEN pg_catalog.concat_ws($3, $1, $2) END $$""",
        "CREATE AGGREGATE evil.string_agg(text, text) (SFUNC = evil.string_agg_step, STYPE = text)",
        """CREATE FUNCTION evil.jsonb_agg_step(jsonb, anyelement) RETURNS jsonb LANGUAGE sql VOLATILE AS
           $$ SELECT CASE WHEN evil.hit('jsonb_agg(anyelement)')
                     THEN pg_catalog.jsonb_insert(COALESCE($1, '[]'), '{-1}', pg_catalog.to_jsonb($2), true) END $$""",
        "CREATE AGGREGATE evil.jsonb_agg(anyelement) (SFUNC = evil.jsonb_agg_step, STYPE = jsonb)",
    ]
    for name in CATALOG_RELATIONS:
        columns = "r.*" if name != "pg_attribute" else (  # a view cannot have attmissingval's anyarray
            "r.attrelid, r.attname, r.atttypid, r.attnum, r.atttypmod, r.attnotnull, r.attisdropped, r.attgenerated")
        statements.append(f"CREATE VIEW evil.{name} AS SELECT {columns} FROM pg_catalog.{name} AS r "
                          f"WHERE evil.hit('relation {name}')")
    for name in NAMED_RELATIONS:
        statements.append(f"CREATE VIEW evil.{name} AS SELECT NULL::pg_catalog.int8 AS id "
                          f"WHERE evil.hit('relation {name}')")
    # Last: from here on `text` etc. would name these in a path that puts evil first.
    for name in DOMAINS:
        statements.append(f"CREATE DOMAIN evil.{name} AS pg_catalog.{name} CHECK (evil.hit('type {name}'))")
    statements.append("GRANT SELECT ON ALL TABLES IN SCHEMA evil TO PUBLIC")  # functions and types are PUBLIC's
    return statements


@dataclass
class Attacker:
    url: str
    hits_seen: list[str] = field(default_factory=list)

    def count(self) -> int:
        with psycopg.connect(self.url) as conn:
            value, called = conn.execute("SELECT last_value, is_called FROM evil.hijacks").fetchone()
        return value if called else 0


@pytest.fixture(scope="module")
def files_dir() -> Iterator[Path]:
    """This module's own file_root (overrides tests/sql/conftest.py's, shared by other modules)."""
    with writable_directory(Path(f"{TEST_HOME}-search-path-files")) as path:
        yield path


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str], configured: S3Config) -> str:
    return declare_storage(telco_with_aws(make_telco, "searchpath", 600, 23))


@pytest.fixture(scope="module")
def roles(telco: str) -> Iterator[dict[str, str]]:
    """attacker (CREATE on evil only), user (churnml_user), admin (churnml_admin): key -> role name."""
    suffix = secrets.token_hex(4)
    names = {key: f"cm_sp_{key}_{suffix}" for key in ("attacker", "user", "admin")}
    groups = {"attacker": None, "user": "churnml_user", "admin": "churnml_admin"}
    with psycopg.connect(telco, autocommit=True) as conn:
        for key, name in names.items():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name),
                                                                             sql.Literal(PASSWORD)))
            if groups[key]:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(groups[key]), sql.Identifier(name)))
        victims = sql.SQL(", ").join(sql.Identifier(names[k]) for k in ("user", "admin"))
        conn.execute("CREATE SCHEMA evil")
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA evil TO {}").format(sql.Identifier(names["attacker"])))
        conn.execute("GRANT USAGE ON SCHEMA evil TO PUBLIC")  # so that evil counts in a victim's search_path
        conn.execute(sql.SQL("GRANT SELECT ON public.customers, public.customer_message TO {}").format(victims))
        conn.execute("CREATE SCHEMA sp_fn")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA sp_fn TO {}").format(victims))
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA sp_fn TO {}").format(sql.Identifier(names["admin"])))
        for tag in ("clean", "p1", "p2"):
            for table in (f"sp_landing_{tag}", f"sp_landing_aws_{tag}"):
                conn.execute(sql.SQL("CREATE TABLE public.{} (LIKE public.customers)").format(sql.Identifier(table)))
                conn.execute(sql.SQL("GRANT SELECT, INSERT ON public.{} TO {}").format(
                    sql.Identifier(table), sql.Identifier(names["admin"])))
        conn.execute("CREATE TABLE public.sp_bad (one int, two text)")
        conn.execute(sql.SQL("GRANT SELECT, INSERT ON public.sp_bad TO {}").format(sql.Identifier(names["admin"])))
    try:
        yield names
    finally:
        with psycopg.connect(telco, autocommit=True) as conn:
            conn.execute("DROP SCHEMA evil CASCADE")
            for name in names.values():
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def attacker(telco: str, roles: dict[str, str]) -> Attacker:
    with psycopg.connect(role_url(telco, roles["attacker"]), autocommit=True) as conn:
        assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        for statement in attacker_ddl():
            conn.execute(statement)
    return Attacker(telco)


@pytest.fixture(scope="module")
def typed_args(telco: str, roles: dict[str, str]) -> str:
    """The deployed model's features as c."column" arguments; the admin makes sp_fn.will_churn_typed."""
    with psycopg.connect(telco) as conn:
        spec = conn.execute("SELECT m.feature_spec FROM churnml.models AS m JOIN churnml.current_deployments AS d "
                            "ON d.model_id = m.id WHERE d.name = 'churn'").fetchone()[0]
    with psycopg.connect(role_url(telco, roles["admin"]), autocommit=True) as admin:
        admin.execute("SELECT churnml.create_model_function('will_churn_typed', 'churn', 'sp_fn')")
    return ", ".join('c."' + f["name"].replace('"', '""') + '"' for f in spec["features"])


@pytest.fixture(scope="module")
def customers(telco: str) -> list[tuple[int, str]]:
    with psycopg.connect(telco) as conn:
        return conn.execute("SELECT area_code, phone FROM customers ORDER BY area_code, phone LIMIT 3").fetchall()


def connect(url: str, path: str | None, hits: list[str]) -> psycopg.Connection:
    """A fresh session (so that churnml prepares its statements under this path) with `path` set."""
    conn = psycopg.connect(url, autocommit=True)
    conn.add_notice_handler(lambda d: hits.append(d.message_primary or "")
                            if "hijack" in (d.message_primary or "") else None)
    if path is not None:
        conn.execute(sql.SQL("SET search_path = {}").format(sql.SQL(path)))
    return conn


def rows(conn: psycopg.Connection, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    return sorted(conn.execute(statement, params).fetchall(), key=repr)


def user_suite(conn: psycopg.Connection, typed_args: str, customers: list[tuple[int, str]]) -> dict[str, Any]:
    """churnml_user's functions; every name in this SQL is qualified or a literal, so only churnml could be hijacked."""
    out: dict[str, Any] = {}
    out["will_churn"] = rows(conn, "SELECT c.area_code, c.phone, churnml.will_churn(c) FROM public.customers AS c")
    out["typed"] = rows(conn, f"SELECT c.area_code, c.phone, sp_fn.will_churn_typed({typed_args}) "
                              "FROM public.customers AS c")
    out["churn_flag"] = rows(conn, "SELECT c.phone, churnml.churn_flag(churnml.will_churn(c)) "
                                   "FROM public.customers AS c")
    out["score"] = rows(conn, "SELECT key, probability FROM churnml.score('public.customers', 'phone')")
    out["score_query"] = rows(conn, "SELECT key, probability FROM churnml.score("
                                    "'SELECT * FROM public.customers', 'phone', batch_size => 100)")
    out["explain"] = rows(conn, "SELECT c.area_code, c.phone, e.feature, e.value, e.contribution "
                                "FROM public.customers AS c CROSS JOIN LATERAL churnml.explain_churn(c, 3) AS e")
    out["importance"] = rows(conn, "SELECT * FROM churnml.feature_importance('churn')")
    for engine in ("lexicon", "encoder"):
        out[f"sentiment_{engine}"] = [
            conn.execute("SELECT s.sentiment, s.confidence FROM churnml.detect_sentiment(%s, 'en', %s) AS s",
                         (m, engine)).fetchone() for m in MESSAGES]
        out[f"batch_{engine}"] = rows(conn, "SELECT * FROM churnml.detect_sentiment_batch(%s, 'en', %s)",
                                      (MESSAGES, engine))
    out["recommend"] = [
        conn.execute("SELECT * FROM churnml.recommend_incentive(%s, %s, %s, %s, customer_key => %s)",
                     (w, s, c, Jsonb(customer), key)).fetchone()
        for w, s, c, customer, key in [(0.9, "NEGATIVE", 0.95, {}, "a/1"), (0.6, "NEGATIVE", 0.95, {}, "a/2"),
                                       (0.3, "POSITIVE", 0.9, {}, None),
                                       (0.9, "NEUTRAL", 0.9, {"cust_service_calls": 4, "int_plan": "yes"}, None)]]
    out["assess"] = [conn.execute("SELECT * FROM churnml.assess_customer(%s, %s, %s, log_offer => false)",
                                  (area, phone, message)).fetchone()
                     for (area, phone), message in zip(customers, [MESSAGES[0], None, MESSAGES[2]], strict=True)]
    out["assess_lexicon"] = conn.execute("SELECT * FROM churnml.assess_customer(%s, %s, %s, false, 'lexicon')",
                                         (*customers[0], MESSAGES[3])).fetchone()
    out["customer_risk"] = rows(conn, "SELECT * FROM churnml.customer_risk")
    out["rule_set_cost"] = rows(conn, "SELECT * FROM churnml.rule_set_cost('default', 100, 0.3)")
    out["aws_sentiment"] = [conn.execute("SELECT s.sentiment, s.confidence FROM aws_comprehend.detect_sentiment(%s, "
                                         "'en') AS s", (m,)).fetchone() for m in MESSAGES]
    out["aws_mysql"] = [conn.execute("SELECT public.aws_comprehend_detect_sentiment(%s, 'en')", (m,)).fetchone()
                        for m in MESSAGES]
    out["aws_endpoint"] = rows(conn, f"SELECT c.phone, aws_sagemaker.invoke_endpoint('churn', NULL, {typed_args}) "
                                     "FROM public.customers AS c")
    return out


def admin_suite(conn: psycopg.Connection, tag: str, typed_args: str, telco: str) -> dict[str, Any]:
    """churnml_admin's: train, make a typed function, export and load (churnml and Aurora forms), a refused row."""
    out: dict[str, Any] = {}
    model = conn.execute("SELECT churnml.train(%s, 'public.customers', 'churn', exclude => ARRAY['phone'], "
                         "hyperparams => '{\"num_boost_round\": 20}', seed => 3)", (f"sp_{tag}",)).fetchone()[0]
    query_model = conn.execute("SELECT churnml.train(%s, 'SELECT * FROM public.customers', 'churn', "
                               "exclude => ARRAY['phone', 'state'], hyperparams => '{\"num_boost_round\": 10}')",
                               (f"sp_q_{tag}",)).fetchone()[0]
    conn.execute("SELECT churnml.create_model_function(%s, 'churn', 'sp_fn')", (f"will_churn_{tag}",))
    out["typed_by_admin"] = rows(conn, f"SELECT c.phone, sp_fn.will_churn_{tag}({typed_args}) "
                                       "FROM public.customers AS c")
    uri = f"s3://{BUCKET}/sp/{tag}/customers"
    out["export"] = conn.execute("SELECT * FROM churnml.export_query('SELECT * FROM public.customers', %s, "
                                 "part_size => 20000)", (uri,)).fetchone()
    out["load"] = conn.execute("SELECT churnml.load_from_s3(%s, %s, mode => 'manifest', header => true)",
                               (f"public.sp_landing_{tag}", uri)).fetchone()
    out["aws_export"] = conn.execute("SELECT * FROM aws_s3.query_export_to_s3('SELECT * FROM public.customers', "
                                     "'churnml', %s, options := 'format csv, header true')",
                                     (f"sp/{tag}/flat.csv",)).fetchone()
    out["aws_import"] = conn.execute("SELECT aws_s3.table_import_from_s3(%s, '', '(format csv, header true)', "
                                     "'churnml', %s, 'us-east-1')",
                                     (f"sp_landing_aws_{tag}", f"sp/{tag}/flat.csv")).fetchone()
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("SELECT churnml.load_from_s3('public.sp_bad', 's3://churnml/sp/bad.csv')")
    out["bad_row"] = (refused.value.sqlstate, refused.value.diag.message_primary)
    with psycopg.connect(telco) as su:
        out["models"] = [su.execute("SELECT artifact_sha256, feature_spec, metrics -> 'test' FROM churnml.models "
                                    "WHERE id = %s", (m,)).fetchone() for m in (model, query_model)]
        out["landing"] = [su.execute(sql.SQL("SELECT count(*), md5(string_agg(c::text, ',' ORDER BY c::text)) "
                                             "FROM public.{} AS c").format(sql.Identifier(t))).fetchone()
                          for t in (f"sp_landing_{tag}", f"sp_landing_aws_{tag}")]
        out["customers"] = su.execute("SELECT count(*), md5(string_agg(c::text, ',' ORDER BY c::text)) "
                                      "FROM public.customers AS c").fetchone()
    return out


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_the_trap_fires_for_unqualified_sql(path: str, telco: str, roles: dict[str, str],
                                            attacker: Attacker) -> None:
    """Positive controls: every kind of look-alike is live for SQL that does not qualify its names, so the
    tests below would see a hijack if churnml's SQL had one."""
    hits: list[str] = []
    controls = CONTROLS[EVIL_AFTER_CATALOG] + (CONTROLS[EVIL_FIRST] if path == EVIL_FIRST else [])
    with connect(role_url(telco, roles["user"]), path, hits) as conn:
        for statement in controls:
            before = attacker.count()
            conn.execute(statement).fetchall()
            assert attacker.count() > before, f"{statement!r} under {path!r} did not reach the look-alike"
    assert hits


@pytest.fixture(scope="module")
def clean_user(telco: str, roles: dict[str, str], attacker: Attacker, typed_args: str,
               customers: list[tuple[int, str]]) -> dict[str, Any]:
    hits: list[str] = []
    with connect(role_url(telco, roles["user"]), CLEAN, hits) as conn:
        result = user_suite(conn, typed_args, customers)
    assert hits == []
    return result


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_user_functions_ignore_look_alikes(path: str, telco: str, roles: dict[str, str], attacker: Attacker,
                                           typed_args: str, customers: list[tuple[int, str]],
                                           clean_user: dict[str, Any]) -> None:
    """will_churn (row and typed), churn_flag, score, explain_churn, feature_importance, detect_sentiment
    (lexicon and encoder), recommend_incentive, assess_customer (with and without a message), customer_risk,
    rule_set_cost and the churnml_aws functions: identical results, nothing of evil's evaluated."""
    hits: list[str] = []
    before = attacker.count()
    with connect(role_url(telco, roles["user"]), path, hits) as conn:
        result = user_suite(conn, typed_args, customers)
        assert conn.execute("SHOW search_path").fetchone()[0] == path  # churnml restored the caller's path
    assert hits == [] and attacker.count() == before
    assert result.keys() == clean_user.keys()
    for key, value in clean_user.items():
        assert result[key] == value, key


def test_admin_functions_ignore_look_alikes(telco: str, roles: dict[str, str], attacker: Attacker, typed_args: str,
                                            configured: S3Config) -> None:
    """train (table and query sources), create_model_function, export_query/load_from_s3 and Aurora's
    query_export_to_s3/table_import_from_s3, and a load refused for a bad row: identical under a hostile path."""
    with S3Client(configured) as client:
        client.put_object(BUCKET, "sp/bad.csv", b"1,a\n2,b\nthree,c\n")
    results = {}
    for tag, path in (("clean", CLEAN), ("p1", EVIL_AFTER_CATALOG), ("p2", EVIL_FIRST)):
        hits: list[str] = []
        before = attacker.count()
        with connect(role_url(telco, roles["admin"]), path, hits) as conn:
            results[tag] = admin_suite(conn, tag, typed_args, telco)
        assert hits == [] and attacker.count() == before, (tag, hits)
    clean = results.pop("clean")
    assert clean["load"][0] == clean["customers"][0] == clean["export"][0] == 600
    assert clean["landing"] == [clean["customers"], clean["customers"]]
    assert clean["bad_row"][0] == "22P02" and 'column "one"' in clean["bad_row"][1]
    for tag, result in results.items():
        for key, value in clean.items():
            if key == "aws_import":  # names the table it loaded
                assert result[key][0] == value[0].replace("clean", tag), (tag, key)
            else:
                assert result[key] == value, (tag, key)


# --------------------------------------------------------------------------- the SQL text in python_udfs

PYTHON_ROOT = REPO / "python_udfs" / "churnml"
SQL_START = re.compile(r"^\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|DROP)\b", re.IGNORECASE)
# Grammar that looks like a call but names no function.
NOT_FUNCTIONS = {"coalesce", "nullif", "greatest", "least", "any", "all", "in", "values", "exists", "case", "cast",
                 "row", "array", "filter", "over", "operator", "conflict", "select", "from", "and", "or", "not", "on",
                 "where", "when", "then", "else", "lateral", "using", "is", "as", "into", "default", "returns"}
# Modules whose SQL runs only under churnml's pinned search_path (pg_catalog, pg_temp): they never call
# caller_search_path, so an unqualified function or operator there resolves in pg_catalog only.
PINNED_ONLY = {"sql_api/incentives.py"}


def sql_strings(path: Path) -> Iterator[tuple[int, str]]:
    """The SQL text of a module: string literals and f-strings (with {} for each placeholder) that start a statement."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL_START.match(text) and not text.rstrip().endswith("."):  # not a sentence in a message
            yield node.lineno, text


def unqualified(text: str) -> tuple[list[str], list[str], list[str]]:
    """(function calls, operators, relations) that the text names without a schema."""
    text = re.sub(r"\$churnml\$.*?\$churnml\$", "", text, flags=re.DOTALL)  # a generated body, checked on its own
    text = re.sub(r"'(?:[^']|'')*'", "''", text)  # literals
    text = re.sub(r"OPERATOR\(\w+\.[^)]+\)", " ", text)  # qualified operators
    text = re.sub(r"\bSET\s+(\w+\s*=|\([^)]*\)\s*=)", " ", text, flags=re.IGNORECASE)  # SET x = (assignment)
    text = re.sub(r",\s*\w+\s*=\s*(?=excluded\.)", ", ", text, flags=re.IGNORECASE)  # DO UPDATE SET a = ..., b = ...
    calls = []
    for match in re.finditer(r"(?<![\w.$\"])([A-Za-z_]\w*)\s*\(", text):
        before = text[:match.start()].rstrip()
        if match.group(1).lower() in NOT_FUNCTIONS or re.search(r"(\bAS|\bINTO\s+\S+|\bTABLE\s+\S+)$", before,
                                                                   re.IGNORECASE):
            continue  # an alias's column list, or a column list
        calls.append(match.group(1))
    operators = re.findall(r"(?<![<>=!:~])(=|<>|!=|<=|>=|\|\||->>?|<|>)(?![=>])", text)
    # a WITH query's own names: no search_path can redirect them (they hide any relation of that name)
    ctes = {m.group(1).lower() for m in re.finditer(
        r"(?:\bWITH|,)\s+(?:RECURSIVE\s+)?([A-Za-z_]\w*)\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(", text,
        re.IGNORECASE)}
    relations = [m.group(2) for m in re.finditer(
        r"\b(FROM|JOIN|INTO|UPDATE)\s+(?!\(|\{|ONLY\b|LATERAL\b)([A-Za-z_]\w*)\b(?!\s*\.|\s*\()", text, re.IGNORECASE)
        if m.group(2).lower() not in ctes]
    return calls, operators, relations


def test_python_sql_names_are_schema_qualified() -> None:
    """Every SQL statement python_udfs sends through plpy names relations with their schema; outside the
    modules that only ever run under the pinned search_path, functions and operators are qualified too
    (pg_catalog.f(...), OPERATOR(pg_catalog.=)), so no caller's search_path can redirect them."""
    problems = []
    checked = 0
    for path in sorted(PYTHON_ROOT.rglob("*.py")):
        relative = path.relative_to(PYTHON_ROOT).as_posix()
        if relative.startswith("cli/"):
            continue  # the client side: runs in psycopg, not in the backend
        if relative in PINNED_ONLY:
            assert "caller_search_path" not in path.read_text(encoding="utf-8"), relative
        for line, text in sql_strings(path):
            checked += 1
            calls, operators, relations = unqualified(text)
            if relations:
                problems.append(f"{relative}:{line}: unqualified relation {relations}: {text.strip()[:80]!r}")
            if relative not in PINNED_ONLY and (calls or operators):
                problems.append(f"{relative}:{line}: unqualified {calls + operators}: {text.strip()[:80]!r}")
    assert checked > 40, "the scan found too little SQL to be looking in the right place"
    assert not problems, "\n".join(problems)


# Type names the grammar itself maps to pg_catalog's types: no search_path can redirect them.
GRAMMAR_TYPES = {"bigint", "boolean", "integer", "smallint", "real", "double precision", "numeric"}


def prepare_type_lists(path: Path) -> Iterator[tuple[int, ast.expr]]:
    """The parameter-type arguments of plpy.prepare(query, types), churnml.spi.prepared(plpy, key, query, types)
    and churnml.parallel_read.rows(plpy, key, query, types, args) (whose types also reach the C reader's
    parseTypeString, which parses them with the search_path in force too). parallel_read's own call of
    `prepared` passes its caller's types on: they are checked where rows() is called."""
    passes_on = path.name == "parallel_read.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "prepare" and len(node.args) >= 2:
            yield node.lineno, node.args[1]
            continue
        spi_prepared = isinstance(node.func, ast.Name) and node.func.id == "prepared" and len(node.args) >= 4 \
            and not passes_on
        parallel_rows = isinstance(node.func, ast.Attribute) and node.func.attr == "rows" and len(node.args) >= 5
        if spi_prepared or parallel_rows:
            yield node.lineno, node.args[3]


def test_prepared_parameter_types_are_schema_qualified() -> None:
    """plpy.prepare parses its parameter type names with the search_path in force, which inside
    caller_search_path is the caller's: a bare "text" there became evil.text, a look-alike domain whose
    CHECK ran the attacker's function on every value. Every literal type name is pg_catalog-qualified
    (or a grammar keyword such as bigint); the few computed ones are printed by format_type under the
    same search_path that parses them."""
    problems = []
    literal = computed = 0
    for path in sorted(PYTHON_ROOT.rglob("*.py")):
        relative = path.relative_to(PYTHON_ROOT).as_posix()
        if relative.startswith("cli/"):
            continue
        for line, types in prepare_type_lists(path):
            elements = types.elts if isinstance(types, ast.List) else [types]
            for element in elements:
                if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
                    computed += 1
                    continue
                literal += 1
                name = element.value.removesuffix("[]")
                if not (name.startswith("pg_catalog.") or name in GRAMMAR_TYPES):
                    problems.append(f"{relative}:{line}: parameter type {element.value!r}")
    assert literal > 50 and computed <= 4, (literal, computed)
    assert not problems, "\n".join(problems)


def test_the_scanner_catches_unqualified_sql() -> None:
    """The scanner itself: it flags what it should and passes churnml's idioms."""
    assert unqualified("SELECT lower(x) FROM t WHERE a = b || c") == (["lower"], ["=", "||"], ["t"])
    assert unqualified("WITH s AS (SELECT 1), u AS MATERIALIZED (SELECT 2) "
                       "SELECT * FROM s JOIN u ON true JOIN t ON true") == ([], [], ["t"])  # WITH names are its own
    assert unqualified("SELECT pg_catalog.lower(x) FROM churnml.t AS u(a, b) "
                       "WHERE a OPERATOR(pg_catalog.=) $1 AND COALESCE(a, 'x=y') IS NULL") == ([], [], [])
    assert unqualified("INSERT INTO churnml.o AS o (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET "
                       "b = excluded.b, c = excluded.c") == ([], [], [])
