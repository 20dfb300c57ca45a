"""Churn models from SQL against the real server: train, deploy, score, explain, thresholds."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest
import xgboost as xgb
from psycopg import sql

from churnml.training.feature_spec import FeatureSpec
from tests.conftest import dump_and_restore

FEATURES_11 = ("acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls, int_calls, "
               "int_charge, cust_service_calls, (int_plan = 'no')::int AS int_plan_no")


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    """A database with 5,000 generated customers and a deployed model 'churn'."""
    return make_telco("models", 5000, 7)


def scores(conn: psycopg.Connection, model: str = "churn") -> dict[str, float]:
    rows = conn.execute("SELECT key, probability FROM churnml.score("
                        "'SELECT *, area_code || ''/'' || phone AS id FROM customers', 'id', %s)", (model,))
    return dict(rows.fetchall())


def test_predictions_equal_xgboost_to_1e6(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        artifact, spec_json = conn.execute(
            "SELECT a.artifact, m.feature_spec FROM churnml.models m JOIN churnml.model_artifacts a "
            "ON a.model_id = m.id JOIN churnml.current_deployments d ON d.model_id = m.id "
            "WHERE d.name = 'churn'").fetchone()
        cur = conn.execute("SELECT * FROM customers ORDER BY phone, area_code")
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
        per_row = [r[0] for r in conn.execute(
            "SELECT churnml.will_churn(c) FROM customers c ORDER BY phone, area_code").fetchall()]
        bulk = scores(conn)
    spec = FeatureSpec.from_dict(spec_json)
    columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    matrix, _ = spec.transform(columns)
    booster = xgb.Booster()
    booster.load_model(bytearray(artifact))
    expected = booster.inplace_predict(matrix)
    assert np.max(np.abs(np.array(per_row) - expected)) < 1e-6
    bulk_in_order = np.array([bulk[f"{r[names.index('area_code')]}/{r[names.index('phone')]}"] for r in rows])
    assert np.max(np.abs(bulk_in_order - expected)) < 1e-6


def test_validation_auc_reaches_090_with_defaults(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        auc = conn.execute("SELECT validation_auc FROM churnml.model_summary WHERE name = 'churn'").fetchone()[0]
        metrics = conn.execute("SELECT metrics FROM churnml.models WHERE name = 'churn'").fetchone()[0]
    assert auc >= 0.90
    for part in ("train", "validation", "test"):
        for key in ("auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier", "confusion", "rows"):
            assert key in metrics[part], (part, key)


def test_deploy_is_seen_by_another_session_without_reconnecting(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as scorer, psycopg.connect(telco, autocommit=True) as admin:
        before = scores(scorer)
        first = admin.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        new_id = admin.execute(
            "SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
            "hyperparams => '{\"max_depth\": 2, \"eta\": 0.3}', seed => 5)").fetchone()[0]
        admin.execute("SELECT churnml.deploy('churn', %s)", (new_id,))
        after = scores(scorer)  # same connection, next statement
        assert after != before
        admin.execute("SELECT churnml.rollback('churn')")
        assert admin.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'"
                             ).fetchone()[0] == first
        assert scores(scorer) == before


def test_walkthrough_typed_function_and_string_labels(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        # the walkthrough's labels are the strings 'True.' / 'False.'
        conn.execute(f"""SELECT churnml.train('churn11',
            'SELECT {FEATURES_11.replace("'", "''")}, CASE WHEN churn THEN ''True.'' ELSE ''False.'' END AS churn
             FROM customers', 'churn', deploy => true)""")
        signature = conn.execute("SELECT churnml.create_model_function('will_churn', 'churn11')").fetchone()[0]
        assert signature.startswith("public.will_churn(bigint, bigint, double precision")
        typed = conn.execute(
            "SELECT will_churn(acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls, "
            "int_calls, int_charge, cust_service_calls, (int_plan = 'no')::int) FROM customers "
            "ORDER BY phone, area_code").fetchall()
        row_form = conn.execute(
            f"SELECT churnml.will_churn(c, 'churn11') FROM (SELECT phone, area_code, {FEATURES_11} "
            "FROM customers) c ORDER BY phone, area_code").fetchall()
        assert typed == row_form
        assert conn.execute("SELECT has_function_privilege('churnml_user', %s, 'EXECUTE'), "
                            "has_function_privilege('public', %s, 'EXECUTE')",
                            (signature, signature)).fetchone() == (True, False)


def test_thresholds_use_the_right_confusion_matrix(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        labels, probs = conn.execute(
            "SELECT holdout_labels, holdout_scores FROM churnml.model_artifacts a "
            "JOIN churnml.current_deployments d ON d.model_id = a.model_id WHERE d.name = 'churn'").fetchone()
        row = conn.execute("SELECT * FROM churnml.threshold_costs('churn', fp_cost => 50, fn_cost => 500, "
                           "tp_cost => 50) WHERE threshold = 0.3").fetchone()
        best = conn.execute("SELECT threshold, cost FROM churnml.optimal_threshold('churn', 50, 500, 50)").fetchone()
        all_costs = [r[0] for r in conn.execute(
            "SELECT cost FROM churnml.threshold_costs('churn', fp_cost => 50, fn_cost => 500, tp_cost => 50)")]
    y, p = np.array(labels), np.array(probs)
    flagged = p > 0.3
    tp, fp = int((flagged & y).sum()), int((flagged & ~y).sum())
    tn, fn = int((~flagged & ~y).sum()), int((~flagged & y).sum())
    assert row == (0.3, tp, fp, tn, fn, 50.0 * (tp + fp) + 500.0 * fn)
    assert best[1] == min(all_costs)


def test_importance_trees_and_explanations(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        top = conn.execute("SELECT feature, weight FROM churnml.feature_importance('churn') LIMIT 3").fetchall()
        trees = conn.execute("SELECT churnml.model_trees('churn')").fetchone()[0]
        reasons = conn.execute(
            "SELECT e.feature, e.contribution FROM customers c, churnml.explain_churn(c, 3) e "
            "WHERE (c.area_code, c.phone) = (415, '358-1921')").fetchall()
        margin = conn.execute(
            "SELECT sum(e.contribution) FROM customers c, churnml.explain_churn(c, 100) e "
            "WHERE (c.area_code, c.phone) = (415, '358-1921')").fetchone()[0]
        p = conn.execute("SELECT churnml.will_churn(c) FROM customers c "
                         "WHERE (c.area_code, c.phone) = (415, '358-1921')").fetchone()[0]
    assert "cust_service_calls" in [f for f, _ in top]
    assert all(w > 0 for _, w in top)
    assert trees["trees"] == len(trees["depths"]) and max(trees["depths"]) <= 4
    assert len(reasons) == 3 and abs(reasons[0][1]) >= abs(reasons[-1][1])
    # contributions + bias = log-odds; the bias is not a feature, so compare loosely via ordering only
    assert margin is not None and 0 < p < 1


def test_errors_carry_sqlstate_detail_and_hint(telco: str) -> None:
    cases = [
        ("SELECT churnml.will_churn(c, 'nope') FROM customers c LIMIT 1", "55000", "is not deployed", "train"),
        ("SELECT churnml.train('x', 'customers', 'no_such_label')", "42704", "label column", None),
        ("SELECT churnml.train('x', 'customers', 'state', exclude => ARRAY['phone'])", "22000", None, None),
        ("SELECT churnml.train('x', 'customers', 'churn', exclude => ARRAY['phone'], "
         "hyperparams => '{\"max_dept\": 3}')", "22023",
         "max_dept", None),
        ("SELECT churnml.train('x', 'customers', 'churn', features => ARRAY['nope'])", "42703", "nope", None),
        ("SELECT churnml.deploy('churn', strategy => 'cheapest')", "22023", "cheapest", "best"),
        ("SELECT churnml.deploy('never_trained')", "42704", "never_trained", "train"),
        ("SELECT churnml.set_threshold('churn', 1.5)", "22023", "between 0 and 1", None),
        ("SELECT churnml.explain_churn(c, 0) FROM customers c LIMIT 1", "22023", "top_k", None),
        ("SELECT churnml.will_churn(t) FROM (SELECT 1 AS a) t", "42703", "needs", "expects"),
        ("SELECT churnml.create_model_function('bad name; drop', 'churn')", "22023", "invalid function name", None),
    ]
    with psycopg.connect(telco, autocommit=True) as conn:
        for statement, sqlstate, message, hint in cases:
            with pytest.raises(psycopg.Error) as info:
                conn.execute(statement)
            diag = info.value.diag
            assert diag.sqlstate == sqlstate, (statement, diag.sqlstate, diag.message_primary)
            if message:
                assert message in diag.message_primary, (statement, diag.message_primary)
            if hint:
                assert hint in (diag.message_hint or ""), (statement, diag.message_hint)
        assert conn.execute("SELECT 1").fetchone()[0] == 1  # the connection survives every error


def test_corrupt_artifact_is_refused_and_the_deployment_keeps_serving(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        before = scores(conn)
        victim = conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                              "seed => 9)").fetchone()[0]
        conn.execute("UPDATE churnml.model_artifacts SET artifact = overlay(artifact placing '9' from 200 for 1) "
                     "WHERE model_id = %s", (victim,))
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT churnml.deploy('churn', %s)", (victim,))
        assert info.value.diag.sqlstate == "XX001"
        assert "checksum" in info.value.diag.message_primary
        assert scores(conn) == before


def test_roles_can_do_exactly_their_part(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        for role, member in (("cm_test_user", "churnml_user"), ("cm_test_admin", "churnml_admin")):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw' IN ROLE {}").format(
                sql.Identifier(role), sql.Identifier(member)))
        conn.execute("GRANT SELECT ON customers TO churnml_user")
    parts = urlsplit(telco)

    def as_role(role: str) -> str:
        return parts._replace(netloc=f"{role}:pw@{parts.hostname}:{parts.port}").geturl()

    with psycopg.connect(as_role("cm_test_user"), autocommit=True) as user:
        assert user.execute("SELECT count(*) FROM churnml.score('customers', 'phone')").fetchone()[0] == 5000
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            user.execute("SELECT churnml.train('mine', 'customers', 'churn')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            user.execute("SELECT churnml.deploy('churn')")
    with psycopg.connect(as_role("cm_test_admin"), autocommit=True) as admin:
        model = admin.execute("SELECT churnml.train('churn_admin', 'customers', 'churn', "
                              "exclude => ARRAY['phone'])").fetchone()[0]
        assert admin.execute("SELECT created_by FROM churnml.models WHERE id = %s", (model,)).fetchone()[0] \
            == "cm_test_admin"


def test_registry_survives_pg_dump_and_restore(telco: str, make_database: Callable[..., str]) -> None:
    target = make_database("restored", extension=False)
    with psycopg.connect(telco, autocommit=True) as conn:  # a name whose endpoint answers labels too
        conn.execute("SET client_min_messages = warning")
        conn.execute("INSERT INTO churnml.deployments (name, model_id, threshold, strategy) "
                     "SELECT 'churn_labels', model_id, threshold, 'specific' FROM churnml.current_deployments "
                     "WHERE name = 'churn'")
        conn.execute("SELECT churnml.set_endpoint_output('churn_labels', 'label, probability')")
    restored = dump_and_restore(telco, target)
    assert restored.returncode == 0, restored.stderr.decode()
    with psycopg.connect(telco) as src, psycopg.connect(target) as dst:
        query = "SELECT id, name, artifact_sha256 FROM churnml.models ORDER BY id"
        assert src.execute(query).fetchall() == dst.execute(query).fetchall()
        query = "SELECT name, model_id, threshold, endpoint_output FROM churnml.current_deployments ORDER BY name"
        assert src.execute(query).fetchall() == dst.execute(query).fetchall()
        assert ("churn_labels", "label,probability") in dst.execute("SELECT name, endpoint_output FROM "
                                                                   "churnml.current_deployments").fetchall()
        assert scores(src) == scores(dst)
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("DELETE FROM churnml.deployments WHERE name = 'churn_labels'")


def test_feature_selection_trains_a_smaller_model_and_compares(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        top = conn.execute("SELECT churnml.top_features('churn', 5)").fetchone()[0]
        assert len(top) == 5 and "cust_service_calls" in top
        parent = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        small = conn.execute("SELECT churnml.train('churn_top5', 'customers', 'churn', "
                             "features => churnml.top_features('churn', 5), parent_id => %s)", (parent,)).fetchone()[0]
        spec, parent_of = conn.execute("SELECT feature_spec, parent_id FROM churnml.models WHERE id = %s",
                                       (small,)).fetchone()
        assert [f["name"] for f in spec["features"]] == top and parent_of == parent
        rows = conn.execute("SELECT split, metric, model_ids, \"values\" FROM churnml.compare_models(%s, %s)",
                            (str(parent), str(small))).fetchall()
        auc = {r[0]: r[3] for r in rows if r[1] == "auc"}
        assert set(auc) == {"train", "validation", "test"} and all(len(v) == 2 for v in auc.values())
        assert auc["validation"][1] > 0.85


def test_null_rows_and_null_features(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        # a NULL row scores NULL; NULL feature values are missing values (native: a real probability)
        assert conn.execute("SELECT churnml.will_churn(NULL::customers)").fetchone()[0] is None
        p = conn.execute("SELECT churnml.will_churn(c) FROM (SELECT (customers).* FROM customers LIMIT 1) c "
                         ).fetchone()[0]
        p_null = conn.execute(
            "SELECT churnml.will_churn(c) FROM (SELECT state, acc_length, area_code, phone, int_plan, vmail_plan, "
            "NULL::bigint AS vmail_msg, NULL::float8 AS day_mins, day_calls, day_charge, eve_mins, eve_calls, "
            "eve_charge, night_mins, night_calls, night_charge, int_mins, int_calls, int_charge, "
            "NULL::bigint AS cust_service_calls, churn FROM customers LIMIT 1) c").fetchone()[0]
        assert 0 < p < 1 and 0 < p_null < 1
        assert conn.execute("SELECT churnml.churn_flag(NULL)").fetchone()[0] is None


def test_typed_function_after_the_model_changes_shape(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SELECT churnml.train('shape', 'SELECT churn, day_mins, cust_service_calls FROM customers', "
                     "'churn', deploy => true)")
        signature = conn.execute("SELECT churnml.create_model_function('shape_fn', 'shape')").fetchone()[0]
        assert signature == "public.shape_fn(double precision, bigint)"
        assert 0 < conn.execute("SELECT shape_fn(250.0, 4)").fetchone()[0] < 1
        conn.execute("SELECT churnml.train('shape', 'SELECT churn, day_mins FROM customers', 'churn', "
                     "deploy => true)")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT shape_fn(250.0, 4)")
        diag = info.value.diag
        assert diag.sqlstate == "42P13"
        assert "expects 1 features" in diag.message_primary
        assert "day_mins double precision" in diag.message_hint and "create_model_function" in diag.message_hint


def test_random_search_reports_each_trial(telco: str) -> None:
    notices: list[str] = []
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        model = conn.execute("SELECT churnml.train('searched', 'customers', 'churn', exclude => ARRAY['phone'], "
                             "search => '{\"trials\": 3, \"seed\": 1}')").fetchone()[0]
        training = conn.execute("SELECT training FROM churnml.models WHERE id = %s", (model,)).fetchone()[0]
    assert len(training["trials"]) == 3
    assert sum("trial" in n for n in notices) >= 3
    assert any(n.startswith("churnml.train: reading") for n in notices)


# A deployment name that ends create_model_function's dollar-quoted body, in issue 19's review:
# it made the superuser who ran create_model_function create a table (or anything else).
CRAFTED = "x$churnml$; CREATE TABLE public.pwned_by_name (); SELECT $churnml$' || E'\\\\"
NAME_CHECK = "CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$')"


def test_deployment_names_are_checked(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        model_id = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        for name in (CRAFTED, "", "a b", "x" * 64, "1churn", "churn;"):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("INSERT INTO churnml.deployments (name, model_id, strategy) VALUES (%s, %s, 'specific')",
                             (name, model_id))
        # every name the docs and tests use passes
        for name in ("churn", "support_tone", "churn_small", "churn-v2", "Churn.2024", "_x"):
            with conn.transaction(force_rollback=True):
                conn.execute("INSERT INTO churnml.deployments (name, model_id, strategy) VALUES (%s, %s, 'specific')",
                             (name, model_id))


def test_create_model_function_is_immune_to_a_crafted_deployment_name(telco: str) -> None:
    """Even with such a row already in the registry (the constraint NOT VALID, as an upgrade leaves a database
    that had one), the name is data in the generated function, for a superuser and for an admin."""
    with psycopg.connect(telco, autocommit=True) as conn:
        model_id, spec = conn.execute(
            "SELECT m.id, m.feature_spec FROM churnml.models AS m JOIN churnml.current_deployments AS d "
            "ON d.model_id = m.id WHERE d.name = 'churn'").fetchone()
        args = ", ".join('c."' + f["name"].replace('"', '""') + '"' for f in spec["features"])
        conn.execute("DROP ROLE IF EXISTS cm_crafted_admin")
        conn.execute("CREATE ROLE cm_crafted_admin LOGIN PASSWORD 'pw' IN ROLE churnml_admin")
        conn.execute("CREATE SCHEMA crafted_fn")
        conn.execute("GRANT CREATE, USAGE ON SCHEMA crafted_fn TO cm_crafted_admin")
        conn.execute("GRANT SELECT ON customers TO churnml_user")
        conn.execute("ALTER TABLE churnml.deployments DROP CONSTRAINT deployments_name_check")
        conn.execute("INSERT INTO churnml.deployments (name, model_id, strategy) VALUES (%s, %s, 'specific')",
                     (CRAFTED, model_id))
        conn.execute(f"ALTER TABLE churnml.deployments ADD CONSTRAINT deployments_name_check {NAME_CHECK} NOT VALID")
        try:
            by_superuser = conn.execute("SELECT churnml.create_model_function('crafted_su', %s)", (CRAFTED,)
                                        ).fetchone()[0]
            parts = urlsplit(telco)
            admin_url = parts._replace(netloc=f"cm_crafted_admin:pw@{parts.hostname}:{parts.port}").geturl()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                by_admin = admin.execute("SELECT churnml.create_model_function('crafted_admin', %s, 'crafted_fn')",
                                         (CRAFTED,)).fetchone()[0]
            assert conn.execute("SELECT pg_catalog.to_regclass('public.pwned_by_name')").fetchone()[0] is None
            expected = conn.execute("SELECT churnml.will_churn(c, %s) FROM customers c ORDER BY phone, area_code "
                                    "LIMIT 50", (CRAFTED,)).fetchall()
            for function in ("public.crafted_su", "crafted_fn.crafted_admin"):
                got = conn.execute(f"SELECT {function}({args}) FROM customers c ORDER BY phone, area_code LIMIT 50"
                                   ).fetchall()
                assert got == expected, function
            assert by_superuser.startswith("public.crafted_su(") and by_admin.startswith("crafted_fn.crafted_admin(")
            source = conn.execute("SELECT prosrc FROM pg_proc WHERE oid = 'public.crafted_su'::regproc").fetchone()[0]
            version = conn.execute("SELECT churnml.version()").fetchone()[0]
            assert source == ("\nimport churnml.sql_api.scoring as api\n"
                              f"return api.score_typed(plpy, {version!r}, {CRAFTED!r}, args)\n")
        finally:
            conn.execute("DROP FUNCTION IF EXISTS public.crafted_su")
            conn.execute("DROP SCHEMA crafted_fn CASCADE")
            conn.execute("DELETE FROM churnml.deployments WHERE name = %s", (CRAFTED,))
            conn.execute("ALTER TABLE churnml.deployments VALIDATE CONSTRAINT deployments_name_check")
            conn.execute("DROP OWNED BY cm_crafted_admin")
            conn.execute("DROP ROLE cm_crafted_admin")


def test_typed_functions_take_only_features_and_replace_the_earlier_form(telco: str) -> None:
    """The body a superuser's create_model_function writes (quoted by the database) calls score_typed with the
    features only: no hidden _statement argument. Made again over a function of 0.2.0's form (features, then
    `_statement float8 DEFAULT ...`), it replaces it rather than adding an ambiguous overload."""
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SELECT churnml.create_model_function('same_body', 'churn')")
        source, names = conn.execute("SELECT prosrc, proargnames FROM pg_proc "
                                     "WHERE oid = 'public.same_body'::regproc").fetchone()
        version = conn.execute("SELECT churnml.version()").fetchone()[0]
        assert source == ("\nimport churnml.sql_api.scoring as api\n"
                          f"return api.score_typed(plpy, '{version}', 'churn', args)\n")
        assert "_statement" not in names
        signature = conn.execute("SELECT 'public.same_body'::regproc::regprocedure::text").fetchone()[0]
        args = signature[signature.index("(") + 1:-1]
        conn.execute("DROP FUNCTION public.same_body")
        # what 0.2.0 made: the same features and a trailing _statement, calling score_args
        old_body = ("\nimport churnml.sql_api.scoring as api\n"
                    f"return api.score_args(plpy, '{version}', 'churn', args)\n")
        params = ", ".join(f"{n} {t.strip()}" for n, t in zip(names, args.split(","), strict=True))
        conn.execute(f"CREATE FUNCTION public.same_body({params}, _statement float8 DEFAULT "
                     "date_part('epoch', statement_timestamp())) RETURNS float8 LANGUAGE plpython3u STABLE "
                     f"AS $body${old_body}$body$")
        row = conn.execute("SELECT c FROM customers c ORDER BY phone LIMIT 1").fetchone()[0]
        values = ", ".join("%s" for _ in names)
        firsts = conn.execute(f"SELECT {', '.join(names)} FROM customers ORDER BY phone LIMIT 1").fetchone()
        old_score = conn.execute(f"SELECT public.same_body({values})", firsts).fetchone()[0]
        conn.execute("SELECT churnml.create_model_function('same_body', 'churn')")
        overloads = conn.execute("SELECT count(*) FROM pg_proc WHERE proname = 'same_body'").fetchone()[0]
        assert overloads == 1
        assert conn.execute(f"SELECT public.same_body({values})", firsts).fetchone()[0] == old_score
        assert row is not None
        conn.execute("DROP FUNCTION public.same_body")


PREDICT_NUMBERS = ("acc_length, area_code, vmail_msg, {day_mins}, day_calls, day_charge, eve_mins, eve_calls, "
                   "eve_charge, night_mins, night_calls, night_charge, int_mins, int_calls, int_charge, "
                   "cust_service_calls")


def test_infinite_features_are_refused_and_nan_is_missing(telco: str) -> None:
    """The review (as churnml_user): predict(..., -Infinity ...) gave the same as NaN (missing); xgboost refuses
    infinities. Now 22003 naming the feature, per row (predict, will_churn, typed functions, explain_churn) and
    in bulk (score); NULL and NaN stay missing values."""
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SELECT churnml.train('plain', 'SELECT churn, day_mins, eve_mins, cust_service_calls "
                     "FROM customers', 'churn', deploy => true)")
        conn.execute("SELECT churnml.create_model_function('plain_fn', 'plain')")
        conn.execute("GRANT SELECT ON customers TO churnml_user")
        conn.execute("SET ROLE churnml_user")
        model_id = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        numbers = PREDICT_NUMBERS.format(day_mins="x")
        predict = (f"SELECT churnml.predict({model_id}, ARRAY[{numbers}]::float8[], ARRAY[state, int_plan, "
                   "vmail_plan]) FROM (SELECT * FROM customers ORDER BY phone LIMIT 1) c, "
                   "(SELECT %s::float8 AS x) AS v")
        finite = conn.execute(predict, ("-1e30",)).fetchone()[0]
        missing = conn.execute(predict, ("NaN",)).fetchone()[0]
        assert conn.execute(predict, (None,)).fetchone()[0] == missing
        assert 0 < finite < 1 and 0 < missing < 1 and finite != missing
        row = ("SELECT {call} FROM (SELECT state, acc_length, area_code, int_plan, vmail_plan, vmail_msg, "
               "%s::float8 AS day_mins, day_calls, day_charge, eve_mins, eve_calls, eve_charge, night_mins, "
               "night_calls, night_charge, int_mins, int_calls, int_charge, cust_service_calls "
               "FROM customers ORDER BY phone LIMIT 1) c")
        assert conn.execute(row.format(call="churnml.will_churn(c)"), ("NaN",)).fetchone()[0] == missing
        assert conn.execute("SELECT plain_fn('NaN', 100, NULL)").fetchone()[0] == \
            conn.execute("SELECT plain_fn(NULL, 100, NULL)").fetchone()[0]
        for infinity in ("-Infinity", "Infinity"):
            for statement, params in (
                (predict, (infinity,)),
                (row.format(call="churnml.will_churn(c)"), (infinity,)),
                (row.format(call="(SELECT count(*) FROM churnml.explain_churn(c))"), (infinity,)),
                ("SELECT plain_fn(%s, 100, 1)", (infinity,)),
                ("SELECT churnml.will_churn(c, 'plain') FROM (SELECT %s::float8 AS day_mins, 1.0::float8 AS "
                 "eve_mins, 1::bigint AS cust_service_calls) c", (infinity,)),
            ):
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(statement, params)
                diag = info.value.diag
                assert diag.sqlstate == "22003", (statement, diag.message_primary)
                assert diag.message_primary == f'churnml: feature "day_mins" is {infinity}, which churnml cannot score'
                assert diag.message_detail and "NULL and NaN are missing values" in diag.message_detail


def test_train_leaves_out_identifier_columns_and_says_so(telco: str) -> None:
    """Without exclude: phone (demo data) and every other identifier shape are left out with a NOTICE
    naming them; a category, a short code of many values and real prose stay."""
    notices: list[str] = []
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        model = conn.execute("SELECT churnml.train('churn_default', 'customers', 'churn')").fetchone()[0]
        spec, training = conn.execute("SELECT feature_spec, training FROM churnml.models WHERE id = %s",
                                      (model,)).fetchone()
        assert "phone" not in [f["name"] for f in spec["features"]] and len(spec["features"]) == 19
        assert [c["column"] for c in training["left_out"]] == ["phone"]
        said = [n for n in notices if "leaving out" in n]
        assert len(said) == 1 and said[0].startswith("churnml.train: leaving out column phone: it identifies rows")
        assert "features => ARRAY[..., 'phone']" in said[0]
        # named, it is used (as categories, never as embedded text)
        notices.clear()
        named = conn.execute("SELECT churnml.train('churn_phone', 'customers', 'churn', "
                             "feature_types => '{\"phone\": \"categorical\"}')").fetchone()[0]
        groups = {f["name"]: f["group"] for f in conn.execute(
            "SELECT feature_spec FROM churnml.models WHERE id = %s", (named,)).fetchone()[0]["features"]}
        assert groups["phone"] == "categorical" and not any("leaving out" in n for n in notices)

        conn.execute("""
            CREATE TABLE shapes AS
            SELECT g AS id,                                              -- a serial key
                   (1000003 * g) % 98765431 AS customer_id,             -- an integer id, not consecutive
                   md5(g::text)::uuid AS account_uuid,
                   'user' || g || '@example.com' AS email,
                   'VX' || lpad(((g * 7919) % 100000)::text, 5, '0') AS voucher,   -- unique short codes
                   'P' || (g % 150) AS plan_code,                       -- 150 short codes: a category
                   (ARRAY['gold', 'silver', 'bronze'])[1 + g % 3] AS tier,
                   (ARRAY['the bill went up again and nobody told me why',
                          'thanks for fixing my dropped calls so quickly',
                          'i want to cancel because coverage at home is terrible',
                          'great support team, they answered within a minute',
                          'why do you charge extra for international minutes',
                          'my phone keeps losing signal on the way to work'])[1 + g % 6]
                       || ' (ticket ' || g || ')' AS message,
                   (g % 97) + (g % 5) * 3.5 AS usage,
                   g % 3 = 0 OR g % 7 = 0 AS churn
            FROM generate_series(1, 600) AS g""")
        notices.clear()
        model = conn.execute("SELECT churnml.train('shapes', 'shapes', 'churn')").fetchone()[0]
        spec, training = conn.execute("SELECT feature_spec, training FROM churnml.models WHERE id = %s",
                                      (model,)).fetchone()
    groups = {f["name"]: f["group"] for f in spec["features"]}
    assert groups == {"plan_code": "categorical", "tier": "categorical", "message": "text", "usage": "numeric"}
    reasons = {c["column"]: c["reason"] for c in training["left_out"]}
    assert list(reasons) == ["id", "customer_id", "account_uuid", "email", "voucher"]
    assert "serial key" in reasons["id"] and "named like a key" in reasons["customer_id"]
    assert "uuids" in reasons["account_uuid"] and "e-mail addresses" in reasons["email"]
    assert "one-word codes" in reasons["voucher"]
    said = [n for n in notices if "leaving out" in n]
    assert len(said) == 1 and "leaving out 5 columns that identify rows" in said[0]


def test_model_and_shard_functions_never_replace_a_function_churnml_did_not_make(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        for make, args in (("create_model_function", "'mine', 'churn'"),
                           ("create_shard_function", "'mine_on_shards', 'customers'")):
            signature = conn.execute(f"SELECT churnml.{make}({args})").fetchone()[0]
            conn.execute(f"SELECT churnml.{make}({args})")  # its own function: replaced, as after a deploy
            conn.execute(f"DROP FUNCTION {signature}")
            conn.execute(f"CREATE FUNCTION {signature} RETURNS float8 LANGUAGE sql AS 'SELECT 0.25::float8'")
            with pytest.raises(psycopg.Error) as info:
                conn.execute(f"SELECT churnml.{make}({args})")
            diag = info.value.diag
            assert diag.sqlstate == "42723", diag.message_primary
            assert "already exists and churnml did not make it" in diag.message_primary
            assert "DROP FUNCTION" in diag.message_hint
            assert conn.execute("SELECT prosrc FROM pg_proc WHERE oid = %s::regprocedure",
                                (signature,)).fetchone()[0] == "SELECT 0.25::float8"
            conn.execute(f"DROP FUNCTION {signature}")
