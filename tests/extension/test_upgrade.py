"""ALTER EXTENSION churnml UPDATE from the previous release, as a DBA does it.

The previous release (its install scripts and its Python code) is rebuilt from git
history at the commit that released it. A private server runs that release; the
database gets a model, a deployment, a typed function, edited rules, an experiment,
offers with outcomes and changed settings. Then the server is restarted with the
current runtime and the database updated: everything is kept, scores are identical,
and the updated catalog equals a fresh install's.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.churnml_state import SCORES, kept_rows, populate, typed_scores
from tests.conftest import REPO, private_path

# Each release and the commit it was made from (the last commit with that version).
RELEASES = {"0.1.0": "db7e7480b910e5bfeaad041708c0922b9328e661",
            "0.2.0": "71fd0b43a341d97c59a9ba891a10a938b45f8135"}
PREVIOUS = "0.2.0"




def _release_tree(version: str, into: Path) -> Path:
    """The release's sources, from git history."""
    commit = RELEASES[version]
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, "sql", "extension",
                              "python_udfs/churnml", "loaders/churnml_loaders", "Makefile"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        pytest.skip(f"release {version} ({commit[:12]}) is not in this checkout's git history: "
                    f"{archive.stderr.decode(errors='replace').strip()}")
    tree = into / f"src-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _release_runtime(tree: Path, version: str, current_site: str) -> str:
    """PYTHONPATH for the old release: its own churnml code first, then the pinned packages."""
    code = tree / "runtime"
    for src in (tree / "python_udfs" / "churnml", tree / "loaders" / "churnml_loaders"):
        shutil.copytree(src, code / src.name)
    (code / "churnml" / "_version.py").write_text(f'VERSION = "{version}"\n')
    # the release's CPython extensions, built as its `make native` did
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for source in sorted(code.rglob("_*.c")):
        subprocess.run(["cc", "-O3", "-fopenmp-simd", "-fPIC", "-shared", f"-I{sysconfig.get_paths()['include']}",
                        str(source), "-o", str(source.with_suffix(suffix)), "-lm", "-pthread"], check=True)
    for path in [code, *code.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return f"{code}:{current_site}"


def _install_release_scripts(tree: Path, version: str, sharedir: Path) -> None:
    subprocess.run(["make", "-s", "-C", str(tree), "extension/churnml--" + version + ".sql",
                    "extension/churnml_aws--" + version + ".sql"], check=True, capture_output=True)
    target = sharedir / "extension"
    if not os.access(target, os.W_OK):
        pytest.skip(f"cannot install the {version} scripts into {target} (run the tests as root)")
    for name in (f"churnml--{version}.sql", f"churnml_aws--{version}.sql"):
        shutil.copy(tree / "extension" / name, target / name)
        (target / name).chmod(0o644)


@contextmanager
def _running_release(embedded_server: Any, version: str) -> Iterator[dict[str, Any]]:
    """A private server running `version`; yields what a test needs to switch it to this checkout."""
    from churnml_client.embedded_pg import EmbeddedServer

    root = private_path(f"upgrade-{version}")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    root.chmod(0o755)
    tree = _release_tree(version, root)
    sharedir = Path(subprocess.run([embedded_server.info.pg_config, "--sharedir"], capture_output=True, text=True,
                                   check=True).stdout.strip())
    _install_release_scripts(tree, version, sharedir)
    old_info = dataclasses.replace(embedded_server.info, runtime_site=_release_runtime(
        tree, version, embedded_server.info.runtime_site))
    server = EmbeddedServer(home=root / "home", info=old_info)
    server.start(database="")
    state = {"server": server, "current_info": embedded_server.info}
    try:
        yield state
    finally:
        state["server"].stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def release_server(embedded_server) -> Iterator[dict[str, Any]]:
    """A private server running the previous release."""
    with _running_release(embedded_server, PREVIOUS) as state:
        yield state


def _restart_with(state: dict[str, Any], info: Any) -> None:
    from churnml_client.embedded_pg import EmbeddedServer

    state["server"].stop()
    state["server"] = EmbeddedServer(home=state["server"].home, info=info)
    state["server"].start(database="")


CATALOG = {
    "functions": """
        SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), coalesce(p.proacl::text, ''),
               coalesce(obj_description(p.oid, 'pg_proc'), '')
        FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s)""",
    "relations": """
        SELECT c.oid::regclass::text, c.relkind::text, coalesce(c.relacl::text, ''),
               coalesce(c.reloptions::text, ''), coalesce(obj_description(c.oid, 'pg_class'), ''),
               CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) ELSE '' END
        FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s)""",
    # Compared by name: a column added by an update comes last, which is not a difference users see by name.
    "columns": """
        SELECT a.attrelid::regclass::text || '.' || a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''), a.attidentity::text,
               coalesce(col_description(a.attrelid, a.attnum), '')
        FROM pg_attribute a JOIN pg_depend d ON d.objid = a.attrelid AND d.classid = 'pg_class'::regclass
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s) AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT co.conrelid::regclass::text || ' ' || co.conname, pg_get_constraintdef(co.oid)
        FROM pg_constraint co JOIN pg_depend d ON d.objid = co.conrelid AND d.classid = 'pg_class'::regclass
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s)""",
    "indexes": """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_depend d ON d.objid = i.indrelid AND d.classid = 'pg_class'::regclass
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s)""",
    "triggers": """
        SELECT t.tgrelid::regclass::text || ' ' || t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_depend d ON d.objid = t.tgrelid AND d.classid = 'pg_class'::regclass
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s) AND NOT t.tgisinternal""",
    "types": """
        SELECT t.oid::regtype::text, t.typtype::text,
               coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                           ORDER BY a.attnum)
                         FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0), ''),
               coalesce(obj_description(t.oid, 'pg_type'), '')
        FROM pg_type t JOIN pg_depend d ON d.objid = t.oid AND d.classid = 'pg_type'::regclass
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s)""",
    "schemas": """
        SELECT n.nspname::text, coalesce(n.nspacl::text, ''), coalesce(obj_description(n.oid, 'pg_namespace'), '')
        FROM pg_namespace n WHERE n.nspname IN ('churnml', 'aws_commons', 'aws_comprehend', 'aws_sagemaker',
                                                'aws_s3')""",
    "members": """
        SELECT pg_describe_object(d.classid, d.objid, d.objsubid), e.extname::text
        FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
        WHERE d.deptype = 'e' AND d.refobjid = ANY(%(ext)s)""",
    # each configuration table with its condition (an update appends the tables it adds: their
    # order in extconfig differs from a fresh install's, their pairs must not)
    "extensions": """
        SELECT e.extname::text, e.extversion,
               coalesce((SELECT string_agg(c::regclass::text || ' ' || coalesce(w, ''), ',' ORDER BY c::regclass::text)
                         FROM unnest(e.extconfig, e.extcondition) AS u(c, w)), '')
        FROM pg_extension e WHERE e.oid = ANY(%(ext)s)""",
}


def catalog(conn: psycopg.Connection) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Everything the churnml extensions define, keyed by object, in comparable form."""
    ext = [r[0] for r in conn.execute(
        "SELECT oid FROM pg_extension WHERE extname IN ('churnml', 'churnml_aws')").fetchall()]
    out: dict[str, dict[str, tuple[Any, ...]]] = {}
    for part, query in CATALOG.items():
        rows = conn.execute(query, {"ext": ext}).fetchall()
        out[part] = {row[0]: tuple(row[1:]) for row in rows}
        assert len(out[part]) == len(rows), f"{part}: duplicate keys"
    return out


def _differences(fresh: dict[str, dict[str, tuple[Any, ...]]],
                 updated: dict[str, dict[str, tuple[Any, ...]]]) -> list[str]:
    problems = []
    for part in CATALOG:
        for key in sorted(fresh[part].keys() | updated[part].keys()):
            if key not in updated[part]:
                problems.append(f"{part}: {key} is missing after the update")
            elif key not in fresh[part]:
                problems.append(f"{part}: {key} is left over after the update")
            elif fresh[part][key] != updated[part][key]:
                problems.append(f"{part}: {key} differs:\n  fresh:   {fresh[part][key]}\n"
                                f"  updated: {updated[part][key]}")
    return problems


@pytest.mark.slow
def test_update_from_the_previous_release_keeps_everything(release_server: dict[str, Any]) -> None:
    server = release_server["server"]
    server.ensure_database("shop", ensure_extension=False)
    url = server.url("shop")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE EXTENSION churnml VERSION {} CASCADE").format(sql.Literal(PREVIOUS)))
        assert conn.execute("SELECT churnml.version()").fetchone()[0] == PREVIOUS
    populate(url)
    dirty = _dirty_release_database(server)
    with psycopg.connect(url) as conn:
        before_scores = conn.execute(SCORES).fetchall()
        before_typed = typed_scores(conn)
        before_rows = kept_rows(conn)
        # 0.3.0 moves each model's artifact and held-out rows to churnml.model_artifacts
        before_files = conn.execute("SELECT id, artifact, holdout_labels, holdout_scores FROM churnml.models "
                                    "ORDER BY id").fetchall()
        before_deployed = conn.execute("SELECT name, model_id, threshold FROM churnml.current_deployments").fetchall()
    assert len(before_scores) == 800 and before_rows["offer_outcomes"]

    # The DBA installs the new release (done: this checkout's `make install`) and restarts the server with it.
    _restart_with(release_server, release_server["current_info"])
    url = release_server["server"].url("shop")
    with psycopg.connect(url, autocommit=True) as conn:
        # Until the database is updated, churnml says what to do.
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as stale:
            conn.execute(SCORES)
        assert "ALTER EXTENSION churnml UPDATE" in (stale.value.diag.message_hint or "")
        conn.execute("ALTER EXTENSION churnml UPDATE")
        conn.execute("ALTER EXTENSION churnml_aws UPDATE")
        versions = dict(conn.execute("SELECT extname, extversion FROM pg_extension "
                                     "WHERE extname IN ('churnml', 'churnml_aws')").fetchall())
        current = release_server["current_info"].version
        assert versions == {"churnml": current, "churnml_aws": current}
        assert conn.execute("SELECT churnml.version()").fetchone()[0] == current
        # Aurora's extension names, new in 0.3.0, over the updated churnml_aws
        conn.execute("CREATE EXTENSION aws_ml CASCADE")
        conn.execute("CREATE EXTENSION aws_s3")
        conn.execute("DROP EXTENSION aws_s3, aws_ml, aws_commons")
    with psycopg.connect(url) as conn:
        assert conn.execute(SCORES).fetchall() == before_scores
        assert typed_scores(conn) == before_typed  # made by the old release, still serving
        assert kept_rows(conn) == before_rows
        # 0.3.0's new columns say nothing about deployments made before it; no business costs yet
        assert conn.execute("SELECT count(*) FROM churnml.deployments WHERE cutoff_source IS NOT NULL "
                            "OR restores IS NOT NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM churnml.business_costs").fetchone()[0] == 0
        assert conn.execute("SELECT model_id, artifact, holdout_labels, holdout_scores FROM churnml.model_artifacts "
                            "ORDER BY model_id").fetchall() == before_files and before_files
        assert conn.execute("SELECT name, model_id, threshold FROM churnml.current_deployments"
                            ).fetchall() == before_deployed
        # and the updated database works on: a new offer, an Aurora-style call
        row = conn.execute("SELECT a.will_churn, a.offer FROM customers c, churnml.assess_customer("
                           "c.area_code, c.phone, 'Thanks!', engine => 'lexicon') a "
                           "ORDER BY c.area_code, c.phone LIMIT 1").fetchone()
        assert row[0] == before_scores[0][2]
        conn.execute("SET churnml.sentiment_engine = 'lexicon'")
        sentiment = conn.execute("SELECT sentiment FROM aws_comprehend.detect_sentiment("
                                 "'I love it', 'en')").fetchone()[0]
        conn.execute("RESET churnml.sentiment_engine")
        assert sentiment == "POSITIVE"

    _update_dirty_database(release_server["server"].url(dirty))

    # The updated catalog is a fresh install's.
    release_server["server"].ensure_database("fresh", ensure_extension=False)
    with psycopg.connect(release_server["server"].url("fresh"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION churnml CASCADE")
        conn.execute("CREATE EXTENSION churnml_aws")
        fresh = catalog(conn)
    with psycopg.connect(url, autocommit=True) as conn:
        updated = catalog(conn)
    assert len(fresh["functions"]) > 50 and len(fresh["relations"]) > 15 and len(fresh["members"]) > 80
    problems = _differences(fresh, updated)
    assert not problems, "\n".join(problems)


# Rows a 0.2.0 database may hold that 0.3.0's check_offer trigger refuses in new rows (it checks
# what CHECK constraints would, for new rows only): what -> "column = value".
DIRTY_OFFERS = {
    "will_churn": "will_churn = 7.5",
    "confidence": "confidence = 'NaN'",
    "sentiment": "sentiment = 'ECSTATIC'",
    "customer_key": "customer_key = E'\\x01'",
}


def _dirty_release_database(server: Any) -> str:
    """A 0.2.0 database with offers and a rule that 0.3.0's constraints refuse; returns its name."""
    server.ensure_database("dirty", ensure_extension=False)
    with psycopg.connect(server.url("dirty"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE EXTENSION churnml VERSION {} CASCADE").format(sql.Literal(PREVIOUS)))
        for what, broken in DIRTY_OFFERS.items():
            column, value = broken.split(" = ", 1)
            if column == "customer_key":
                conn.execute(f"INSERT INTO churnml.offer_log (customer_key, offer) VALUES ({value}, %s)", (what,))
            else:
                conn.execute(f"INSERT INTO churnml.offer_log (customer_key, offer, {column}) "
                             f"VALUES ('dirty', %s, {value})", (what,))
        conn.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, reason) "
                     "VALUES ('dirty', 1, 'wordy', 'TRUE', repeat('o', 150), repeat('r', 600))")
    return "dirty"


def _update_dirty_database(url: str) -> None:
    """The update keeps every row: each constraint they break stays NOT VALID with a WARNING naming the rows and
    the VALIDATE to run; the others are validated. Once the rows are fixed, VALIDATE makes it a fresh install's.
    The offer log's old rows stay as they are; new ones are checked by the check_offer trigger."""
    warnings: list[tuple[str, str, str]] = []  # (message, detail, hint): a Diagnostic lives only in its handler

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity == "WARNING":
            warnings.append((diag.message_primary or "", diag.message_detail or "", diag.message_hint or ""))

    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(keep)
        conn.execute("ALTER EXTENSION churnml UPDATE")
        broken = {"incentive_rules_offer_length": "incentive_rules", "incentive_rules_reason_length": "incentive_rules"}
        said = {message: (detail, hint) for message, detail, hint in warnings}
        for constraint, table in broken.items():
            message = (f"churnml 0.3.0: existing rows of churnml.{table} break the new constraint {constraint}, left "
                       f"NOT VALID")
            assert message in said, (message, list(said))
            assert said[message][0].startswith("Rows (id): ")
            assert f"VALIDATE CONSTRAINT {constraint}" in said[message][1]
        assert len(warnings) == len(broken), warnings
        invalid = {r[0] for r in conn.execute("SELECT conname FROM pg_constraint WHERE NOT convalidated AND "
                                              "connamespace = 'churnml'::regnamespace").fetchall()}
        assert invalid == set(broken)
        assert conn.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0] == len(DIRTY_OFFERS)
        # new rows are checked
        with pytest.raises(psycopg.errors.CheckViolation, match="will_churn must be between 0 and 1"):
            conn.execute("INSERT INTO churnml.offer_log (customer_key, will_churn) VALUES ('new', 2)")
        conn.execute("DELETE FROM churnml.offer_log")
        conn.execute("UPDATE churnml.incentive_rules SET offer = 'o', reason = 'r' WHERE rule_set = 'dirty'")
        for constraint, table in broken.items():
            conn.execute(f"ALTER TABLE churnml.{table} VALIDATE CONSTRAINT {constraint}")


def test_update_of_a_current_database_is_a_no_op(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        before = catalog(conn)
        conn.execute("ALTER EXTENSION churnml UPDATE")  # "already at version": a NOTICE, no change
        assert catalog(conn) == before


@pytest.mark.slow
def test_update_from_the_first_release_gives_a_fresh_install(embedded_server) -> None:
    """Every earlier release has a direct upgrade script (extension/churnml--0.1.0--<version>.sql): an
    empty 0.1.0 database, updated, has exactly the catalog of a fresh install."""
    with _running_release(embedded_server, "0.1.0") as state:
        state["server"].ensure_database("first", ensure_extension=False)
        with psycopg.connect(state["server"].url("first"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION churnml VERSION '0.1.0' CASCADE")
            conn.execute("CREATE EXTENSION churnml_aws VERSION '0.1.0'")
        _restart_with(state, state["current_info"])
        url = state["server"].url("first")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER EXTENSION churnml UPDATE")
            conn.execute("ALTER EXTENSION churnml_aws UPDATE")
            updated = catalog(conn)
            assert conn.execute("SELECT churnml.version()").fetchone()[0] == state["current_info"].version
        state["server"].ensure_database("fresh", ensure_extension=False)
        with psycopg.connect(state["server"].url("fresh"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION churnml CASCADE")
            conn.execute("CREATE EXTENSION churnml_aws")
            fresh = catalog(conn)
    problems = _differences(fresh, updated)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_update_from_the_first_release_keeps_its_data(embedded_server) -> None:
    """A 0.1.0 database in use (customers, a deployed model, offers logged by assess_customer with
    outcomes) updates straight to this release: every score, offer and outcome is kept, and the
    call-center answer works on."""
    from churnml_client import datagen

    with _running_release(embedded_server, "0.1.0") as state:
        state["server"].ensure_database("used", ensure_extension=False)
        url = state["server"].url("used")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION churnml VERSION '0.1.0' CASCADE")
            datagen.load(conn, 300, 7, progress=False)
            conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                         "deploy => true)")
            offers = [r[0] for r in conn.execute(
                "SELECT a.offer_id FROM customers c, churnml.assess_customer(c.area_code, c.phone, "
                "'You charged me twice!', engine => 'lexicon') a ORDER BY c.area_code, c.phone LIMIT 12")]
            assert all(offers), offers  # 0.1.0 logs every call
            for offer_id in offers[:6]:
                conn.execute("SELECT churnml.record_outcome(%s, 'churned')", (offer_id,))
            before_scores = conn.execute(SCORES).fetchall()
            before_offers = conn.execute("SELECT id, customer_key, offer, will_churn, sentiment, offered_by "
                                         "FROM churnml.offer_log ORDER BY id").fetchall()
            before_outcomes = conn.execute("SELECT offer_id, outcome FROM churnml.offer_outcomes "
                                           "ORDER BY offer_id").fetchall()
        _restart_with(state, state["current_info"])
        url = state["server"].url("used")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER EXTENSION churnml UPDATE")
            assert conn.execute("SELECT churnml.version()").fetchone()[0] == state["current_info"].version
            assert conn.execute(SCORES).fetchall() == before_scores
            assert conn.execute("SELECT id, customer_key, offer, will_churn, sentiment, offered_by "
                                "FROM churnml.offer_log ORDER BY id").fetchall() == before_offers
            assert conn.execute("SELECT offer_id, outcome FROM churnml.offer_outcomes "
                                "ORDER BY offer_id").fetchall() == before_outcomes
            # the call-center answer works on, and logs only when asked now
            row = conn.execute("SELECT a.will_churn, a.offer_id FROM customers c, churnml.assess_customer("
                               "c.area_code, c.phone, 'Thanks!', engine => 'lexicon') a "
                               "ORDER BY c.area_code, c.phone LIMIT 1").fetchone()
            assert row == (before_scores[0][2], None)
            logged = conn.execute("SELECT a.offer_id FROM customers c, churnml.assess_customer(c.area_code, "
                                  "c.phone, 'Thanks!', log_offer => true, engine => 'lexicon') a "
                                  "ORDER BY c.area_code, c.phone LIMIT 1").fetchone()[0]
            assert logged > max(o[0] for o in before_offers)
