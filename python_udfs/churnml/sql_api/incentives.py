"""SQL area: incentive rules (validation triggers), recommend_incentive, the offer log,
experiment results and the cost of a rule set.

Rules are read once per statement (keyed by the statement's start, like deployed
models), so an admin's change applies to every session's next statement. Compiled
conditions are cached per backend by their stored syntax tree. All statements are
prepared with parameters; nothing here formats a value into SQL text.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from churnml import interrupts, limits, registry, server
from churnml.errors import (
    CardinalityViolation,
    ChurnmlError,
    InsufficientPrivilege,
    InvalidParameter,
    NullValueNotAllowed,
    NumericValueOutOfRange,
    ObjectNotInPrerequisiteState,
    StringDataRightTruncation,
    UndefinedObject,
)
from churnml.incentives import arms as arms_mod
from churnml.incentives import conditions, results, rules
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry

_COMPILED: OrderedDict[str, conditions.Compiled] = OrderedDict()
_TEMPLATES: OrderedDict[tuple[str, frozenset[str]], rules.Template] = OrderedDict()
MAX_CACHED = 1024
# A builtin row being restored by pg_restore updates the installed copy in place;
# while it does, the checks that guard builtin rows stand aside.
_restoring = False


class DependentObjectsStillExist(ChurnmlError):
    sqlstate = "2BP01"  # dependent_objects_still_exist



K = TypeVar("K")
V = TypeVar("V")


def _cached(cache: OrderedDict[K, V], key: K, make: Callable[[], V]) -> V:
    value = cache.get(key)
    if value is None:
        value = make()
        cache[key] = value
        if len(cache) > MAX_CACHED:
            cache.popitem(last=False)
    return value


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text, parse_float=Decimal)


def _input_types(plpy: Plpy) -> dict[str, str]:
    plan = prepared(plpy, "inputs", "SELECT name, type FROM churnml.incentive_inputs", [])
    return {r["name"]: r["type"] for r in plpy.execute(plan)}


def _template_names(inputs: Mapping[str, str]) -> frozenset[str]:
    return frozenset(inputs) | frozenset(rules.RESULT_FIELDS)


def _parse_reason(reason: str | None, inputs: Mapping[str, str]) -> rules.Template:
    names = _template_names(inputs)
    return _cached(_TEMPLATES, (reason or "", names), lambda: rules.parse_template(reason, names))


# -- triggers -----------------------------------------------------------


def _now_and_user(plpy: Plpy) -> tuple[str, str]:
    row = plpy.execute(prepared(plpy, "now_user", "SELECT now()::pg_catalog.text AS now, current_user AS who", []))[0]
    return row["now"], row["who"]


# What the rule trigger checks before it parses anything: (column, what it is called, limit). The
# name and rule set are 63 characters at most by their CHECK constraints' patterns; checked for
# length here too, since every message names the rule. Arms are JSON of at most 26 arms.
_TEXT_LIMITS = (
    ("name", "the rule name", 63),
    ("rule_set", "the rule set name", 63),
    ("condition", "the condition", rules.MAX_CONDITION_CHARS),
    ("offer", "the offer", rules.MAX_OFFER_CHARS),
    ("reason", "the reason", rules.MAX_REASON_TEMPLATE_CHARS),
    ("arms", "the arms", 65536),
)


def _check_lengths(new: Mapping[str, Any]) -> None:
    name = new.get("name")
    for column, what, limit in _TEXT_LIMITS:
        value = new.get(column)
        if isinstance(value, str) and len(value) > limit:
            of = "" if column == "name" else f' of rule "{rules.cut(str(name), 64)}"'
            raise StringDataRightTruncation(
                f"{what}{of} is {len(value)} characters long, more than {limit}",
                detail=f"A rule's {column} is at most {limit} characters"
                       + (": it is returned and logged with every offer." if column in ("offer", "reason") else "."),
                hint="Shorten it." if column != "reason" else
                     "Shorten it; a reason names inputs in braces, and each value substituted is cut at "
                     f"{rules.MAX_VALUE_CHARS} characters.")


def _validate_rule(plpy: Plpy, new: dict[str, Any]) -> None:
    _check_lengths(new)
    inputs = _input_types(plpy)
    name = new.get("name")
    offer_value = new.get("offer_value")
    if isinstance(offer_value, Decimal) and not offer_value.is_finite():
        raise NumericValueOutOfRange(f'offer_value of rule "{name}" must be a finite number, not {offer_value}',
                                     detail="An offer_value is what the offer costs, or NULL when it is unpriced.")
    try:
        tree = conditions.parse(new.get("condition"), inputs)
    except conditions.ConditionError as exc:
        raise exc.retitle(f'condition of rule "{name}"') from None
    new["condition_ast"] = json.dumps(tree, sort_keys=True)
    arms_json, experiment = _loads(new.get("arms")), new.get("experiment")
    if (arms_json is None) != (experiment is None):
        raise InvalidParameter(
            f'rule "{name}" needs both arms and an experiment, or neither',
            detail="Arms split a rule's customers between offers, and the experiment records the split.",
            hint="Create the experiment first (INSERT INTO churnml.experiments (name, description) VALUES (...)) "
                 "and name it in the rule's experiment column.")
    if arms_json is not None:
        try:
            parsed = arms_mod.parse_arms(arms_json)
        except InvalidParameter as exc:
            raise InvalidParameter(f'invalid arms of rule "{name}": {exc.message}', detail=exc.detail,
                                   hint=exc.hint) from None
        new["arms"] = json.dumps([a.to_json() for a in parsed])
    try:
        rules.parse_template(new.get("reason"), _template_names(inputs))
    except InvalidParameter as exc:
        message = exc.message.replace("invalid reason template:", f'invalid reason of rule "{name}":', 1)
        raise InvalidParameter(message, detail=exc.detail, hint=exc.hint) from None


_RULE_COLUMNS = ("rule_set", "priority", "name", "condition", "offer", "offer_value", "currency", "active_from",
                 "active_until", "arms", "experiment", "reason", "enabled", "created_by", "created_at", "updated_by",
                 "updated_at")


_JSONB_COLUMNS = frozenset({"arms", "condition_ast"})


def _json_row(row: Mapping[str, Any]) -> str:
    """A trigger row as JSON for jsonb_populate_record (jsonb columns arrive as text: decode them)."""
    def plain(key: str, value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if key in _JSONB_COLUMNS and isinstance(value, str):
            return json.loads(value)
        return value

    return json.dumps({k: plain(k, v) for k, v in row.items()}, default=str)


def _is_superuser(plpy: Plpy) -> bool:
    plan = prepared(plpy, "is_superuser", "SELECT r.rolsuper FROM pg_catalog.pg_roles AS r "
                    "WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER", [])
    rows = plpy.execute(plan)
    return bool(rows and rows[0]["rolsuper"])


def _refuse_builtin_from_others(plpy: Plpy, what: str, name: str | None) -> None:
    """builtin = true is written by CREATE EXTENSION and pg_restore, both run by a superuser.

    The column grants already keep churnml_admin from naming builtin; this also holds for a
    role a DBA granted the whole table. A builtin row cannot be deleted and is updated in
    place on restore, so a forged one would be permanent, or overwrite the real one."""
    if not _is_superuser(plpy):
        raise InsufficientPrivilege(
            f'only churnml itself installs builtin {what}s: {what} "{name}" cannot be inserted with builtin = true',
            detail="Builtin rows are written by CREATE EXTENSION and pg_restore (as a superuser), never by a role.",
            hint="Leave builtin to its default, false.")


class ForeignKeyViolation(ChurnmlError):
    sqlstate = "23503"  # foreign_key_violation


_OFFERS_OF = {
    "rule": ("SELECT count(*) AS n FROM churnml.offer_log WHERE rule_id OPERATOR(pg_catalog.=) $1", "bigint"),
    "experiment": ("SELECT count(*) AS n FROM churnml.offer_log WHERE experiment OPERATOR(pg_catalog.=) $1",
                   "pg_catalog.text"),
}


def _refuse_deleting_with_offers(plpy: Plpy, what: str, name: str, key: Any, hint: str) -> None:
    """What a foreign key from churnml.offer_log would do (sql/300_incentives.sql says why there is none)."""
    query, key_type = _OFFERS_OF[what]
    offers = plpy.execute(prepared(plpy, f"offers_of_{what}", query, [key_type]), [key])[0]["n"]
    if offers:
        raise ForeignKeyViolation(f'{what} "{name}" made offers and cannot be deleted',
                                  detail=f"churnml.offer_log has {offers} offers of it; they keep naming it.",
                                  hint=hint)


def _restore_builtin(plpy: Plpy, table: str, key: str, key_type: str, columns: tuple[str, ...],
                     new: Mapping[str, Any]) -> bool:
    """pg_restore re-inserts a builtin row that CREATE EXTENSION just installed: update it in place."""
    global _restoring
    assignments = ", ".join(columns)
    values = ", ".join(f"n.{c}" for c in columns)
    plan = prepared(plpy, f"restore_{table}", f"""
        UPDATE churnml.{table} AS t SET ({assignments}) = (
            SELECT {values} FROM pg_catalog.jsonb_populate_record(NULL::churnml.{table}, $2::pg_catalog.jsonb) AS n)
        WHERE t.{key} OPERATOR(pg_catalog.=) $1 AND t.builtin""", [key_type, "pg_catalog.text"])  # noqa: S608 - fixed names
    _restoring = True
    try:
        done = plpy.execute(plan, [new[key], _json_row(new)]).nrows()
    finally:
        _restoring = False
    return done > 0


@entry
def check_rule(plpy: Plpy, td: dict[str, Any]) -> str | None:
    """BEFORE INSERT/UPDATE/DELETE on churnml.incentive_rules."""
    event = td["event"]
    if event == "DELETE":
        old = td["old"]
        if old["builtin"] and not _restoring:
            raise ObjectNotInPrerequisiteState(
                f'rule "{old["name"]}" is installed by churnml and cannot be deleted',
                detail="CREATE EXTENSION installs it again on every restore, so a deletion would not last.",
                hint=f"Disable it instead: set enabled = false on rule {old['id']}.")
        _refuse_deleting_with_offers(plpy, "rule", old["name"], old["id"],
                                     f"Disable it instead: set enabled = false on rule {old['id']}.")
        return None
    new = td["new"]
    if event == "INSERT" and new.get("builtin") and not _restoring:
        _refuse_builtin_from_others(plpy, "rule", new.get("name"))
        if new.get("id") is not None and _restore_builtin(plpy, "incentive_rules", "id", "bigint", _RULE_COLUMNS,
                                                          new):
            return "SKIP"
    if event == "UPDATE" and not _restoring and new["builtin"] != td["old"]["builtin"]:
        raise InvalidParameter("the builtin flag of a rule cannot change",
                               detail="It marks the rules churnml installs.")
    _validate_rule(plpy, new)
    if event == "UPDATE" and not _restoring:
        new["updated_at"], new["updated_by"] = _now_and_user(plpy)
    return "MODIFY"


def _revalidate_rules(plpy: Plpy) -> None:
    inputs = _input_types(plpy)
    plan = prepared(plpy, "all_rules",
                    "SELECT id, name, condition, reason FROM churnml.incentive_rules ORDER BY id", [])
    for row in plpy.execute(plan):
        try:
            conditions.parse(row["condition"], inputs)
            rules.parse_template(row["reason"], _template_names(inputs))
        except InvalidParameter as exc:
            raise DependentObjectsStillExist(
                f'rule "{row["name"]}" (id {row["id"]}) needs the input that this change removes',
                detail=f"Its condition or reason would become invalid: {exc.message}.",
                hint="Change or delete the rule first.") from None


@entry
def check_input(plpy: Plpy, td: dict[str, Any]) -> str | None:
    """Row-level BEFORE and statement-level AFTER trigger on churnml.incentive_inputs."""
    if td["level"] == "STATEMENT":
        _revalidate_rules(plpy)
        return None
    event = td["event"]
    old = td.get("old")
    if old is not None and old["builtin"]:
        raise ObjectNotInPrerequisiteState(
            f'input "{old["name"]}" is installed by churnml and cannot be changed or deleted',
            hint="Add your own inputs with INSERT INTO churnml.incentive_inputs (name, type) VALUES (...).")
    if event == "DELETE":
        return None
    new = td["new"]
    if new["builtin"]:
        raise InvalidParameter("builtin inputs are installed by churnml; add yours with builtin = false")
    name = new["name"] or ""
    if name in conditions.KEYWORDS | conditions.STATEMENT_WORDS | conditions.SQL_WORDS:
        raise InvalidParameter(f'"{name}" is an SQL keyword and cannot name an input')
    return None


@entry
def check_experiment(plpy: Plpy, td: dict[str, Any]) -> str | None:
    """BEFORE INSERT/UPDATE/DELETE on churnml.experiments."""
    event = td["event"]
    if event == "DELETE":
        old = td["old"]
        if old["builtin"] and not _restoring:
            raise ObjectNotInPrerequisiteState(
                f'experiment "{old["name"]}" is installed by churnml and cannot be deleted',
                hint="Stop it instead: UPDATE churnml.experiments SET stopped_at = now() WHERE name = ...;")
        _refuse_deleting_with_offers(plpy, "experiment", old["name"], old["name"],
                                     "Stop it instead: UPDATE churnml.experiments SET stopped_at = now() "
                                     "WHERE name = ...;")
        return None
    new = td["new"]
    if event == "INSERT":
        if new.get("builtin") and not _restoring:
            _refuse_builtin_from_others(plpy, "experiment", new.get("name"))
            if _restore_builtin(plpy, "experiments", "name", "pg_catalog.text",
                                ("seed", "description", "control_arm", "started_at", "stopped_at", "created_by",
                                 "created_at"), new):
                return "SKIP"
        return None
    old = td["old"]
    if _restoring:
        return None
    if new["builtin"] != old["builtin"]:
        raise InvalidParameter("the builtin flag of an experiment cannot change")
    if new["seed"] != old["seed"]:
        plan = prepared(plpy, "experiment_offers",
                     "SELECT count(*) AS n FROM churnml.offer_log WHERE experiment OPERATOR(pg_catalog.=) $1",
                     ["pg_catalog.text"])
        offers = plpy.execute(plan, [old["name"]])[0]["n"]
        if offers:
            raise ObjectNotInPrerequisiteState(
                f'the seed of experiment "{old["name"]}" cannot change after it assigned offers',
                detail=f"The offer log has {offers} offers whose arms came from this seed.",
                hint="Start a new experiment (with a new name) instead.")
    return None


# -- rule sets ----------------------------------------------------------

_RULES_QUERY = """
SELECT (SELECT pg_catalog.jsonb_object_agg(i.name, i.type) FROM churnml.incentive_inputs AS i)::pg_catalog.text
           AS inputs,
       EXISTS (SELECT FROM churnml.incentive_rules AS k WHERE k.rule_set OPERATOR(pg_catalog.=) $1) AS known,
       (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'id', r.id, 'priority', r.priority, 'name', r.name, 'ast', r.condition_ast::pg_catalog.text,
                   'offer', r.offer, 'offer_value', r.offer_value, 'currency', r.currency, 'reason', r.reason,
                   'arms', r.arms, 'experiment', r.experiment, 'seed', e.seed,
                   'running', e.name IS NOT NULL AND e.started_at OPERATOR(pg_catalog.<=) $2
                              AND (e.stopped_at IS NULL OR $2 OPERATOR(pg_catalog.<) e.stopped_at))
               ORDER BY r.priority, r.id)
        FROM churnml.incentive_rules AS r
        LEFT JOIN churnml.experiments AS e ON e.name OPERATOR(pg_catalog.=) r.experiment
        WHERE r.rule_set OPERATOR(pg_catalog.=) $1 AND r.enabled
          AND (r.active_from IS NULL OR r.active_from OPERATOR(pg_catalog.<=) $2)
          AND (r.active_until IS NULL OR $2 OPERATOR(pg_catalog.<) r.active_until))::pg_catalog.text AS rules
"""


# Which row versions the rules of a set were built from, and whether each is active at
# as_of: when this is unchanged, the rules built for an earlier statement are still right
# (MVCC: a change gives the row a new xmin). Costs ~1/4 of loading the rules.
_FINGERPRINT_QUERY = """
SELECT pg_catalog.string_agg(
           r.id::pg_catalog.text || ':' || r.xmin::pg_catalog.text || ':'
           || (r.enabled AND (r.active_from IS NULL OR r.active_from OPERATOR(pg_catalog.<=) $2)
               AND (r.active_until IS NULL OR $2 OPERATOR(pg_catalog.<) r.active_until))::pg_catalog.text
           || ':' || COALESCE(e.xmin::pg_catalog.text || ':' || (e.started_at OPERATOR(pg_catalog.<=) $2
               AND (e.stopped_at IS NULL OR $2 OPERATOR(pg_catalog.<) e.stopped_at))::pg_catalog.text, ''),
           ',' ORDER BY r.id)
       || '/' || (SELECT pg_catalog.string_agg(i.xmin::pg_catalog.text, ',' ORDER BY i.name)
                  FROM churnml.incentive_inputs AS i) AS fingerprint
FROM churnml.incentive_rules AS r
LEFT JOIN churnml.experiments AS e ON e.name OPERATOR(pg_catalog.=) r.experiment
WHERE r.rule_set OPERATOR(pg_catalog.=) $1
"""


@dataclass
class _Loaded:
    statement: int | None  # the statement start it was checked for (churnml.server.statement_start)
    as_of: str
    fingerprint: str
    rule_set: rules.RuleSet


_loaded: dict[str, _Loaded] = {}
MAX_CACHED_SETS = 64


def _compile(ast_text: str) -> conditions.Compiled:
    return _cached(_COMPILED, ast_text, lambda: conditions.compile_condition(json.loads(ast_text)))


def load_rule_set(plpy: Plpy, name: str, as_of: str) -> rules.RuleSet:
    """The enabled rules of `name` active at `as_of`, in evaluation order."""
    row = plpy.execute(prepared(plpy, "rule_set", _RULES_QUERY, ["pg_catalog.text", "pg_catalog.timestamptz"]),
                       [name, as_of])[0]
    if not row["known"]:
        raise UndefinedObject(f'rule set "{name}" has no rules',
                              detail=_known_rule_sets(plpy),
                              hint="The rules churnml installs are in rule set 'default'.")
    inputs = json.loads(row["inputs"] or "{}")
    loaded = []
    for r in _loads(row["rules"]) or []:
        interrupts.check()  # a set of thousands of rules takes a while to compile the first time
        arms = tuple(arms_mod.parse_arms(r["arms"])) if r["arms"] is not None else ()
        loaded.append(rules.Rule(
            id=int(r["id"]), name=r["name"], priority=int(r["priority"]), condition=_compile(r["ast"]),
            offer=r["offer"], offer_value=r["offer_value"], currency=r["currency"],
            reason=_parse_reason(r["reason"], inputs), arms=arms, experiment=r["experiment"], seed=r["seed"],
            experiment_running=bool(r["running"])))
    customer_inputs = tuple((n, t) for n, t in sorted(inputs.items()) if n not in rules.ARGUMENT_INPUTS)
    return rules.RuleSet(name=name, rules=tuple(loaded), inputs=customer_inputs)


def _known_rule_sets(plpy: Plpy) -> str:
    rows = plpy.execute("SELECT pg_catalog.string_agg(DISTINCT rule_set, ', ') AS sets FROM churnml.incentive_rules")
    sets = rows[0]["sets"] if rows else None
    return f"Rule sets with rules: {sets}." if sets else "No rule set has any rules."


def _rule_set(plpy: Plpy, name: str, as_of: str) -> rules.RuleSet:
    """The rules for this statement: looked up once per statement, rebuilt only when they changed."""
    statement = server.statement_start()
    current = _loaded.get(name)
    if current is not None and statement is not None and current.statement == statement and current.as_of == as_of:
        return current.rule_set
    plan = prepared(plpy, "rule_set_fingerprint", _FINGERPRINT_QUERY, ["pg_catalog.text", "pg_catalog.timestamptz"])
    fingerprint = plpy.execute(plan, [name, as_of])[0]["fingerprint"]
    if current is not None and fingerprint is not None and current.fingerprint == fingerprint:
        current.statement, current.as_of = statement, as_of
        return current.rule_set
    rule_set = load_rule_set(plpy, name, as_of)
    if fingerprint is not None:
        if len(_loaded) >= MAX_CACHED_SETS and name not in _loaded:
            _loaded.pop(next(iter(_loaded)))
        _loaded[name] = _Loaded(statement, as_of, fingerprint, rule_set)
    return rule_set


def _json_argument(text: str, what: str) -> Any:
    """A jsonb argument's text as Python values. jsonb's text is always valid JSON; what Python cannot
    read is an integer of more than 4300 digits (jsonb prints 1e5000 that way)."""
    try:
        return json.loads(text)
    except ValueError:
        raise NumericValueOutOfRange(f"{what} holds a number too large to read",
                                     detail="Numeric inputs are float8: finite numbers up to about 1.8e308.",
                                     hint="Pass numbers as float8 can hold them.") from None


_CUSTOMER_HINT = ("Pass only the fields the rules use, e.g. to_jsonb(c) - 'notes', or "
                  "jsonb_build_object('cust_service_calls', c.cust_service_calls, ...).")


def _customer(customer: str | None) -> dict[str, Any]:
    if customer is None:
        return {}
    limits.check_json_argument(customer, "customer", _CUSTOMER_HINT)
    value = _json_argument(customer, "customer")
    if not isinstance(value, dict):
        raise InvalidParameter("customer must be a JSON object of input values",
                               hint="e.g. to_jsonb(c) for a customers row c, or '{\"cust_service_calls\": 4}'.")
    return value


@entry
def recommend_incentive(plpy: Plpy, will_churn: float | None, sentiment: str | None, confidence: float | None,
                        customer: str | None, customer_key: str | None, rule_set: str | None,
                        as_of: str | None) -> dict[str, Any]:
    if rule_set is None:
        raise NullValueNotAllowed("rule_set must not be NULL")
    if as_of is None:
        raise NullValueNotAllowed("as_of must not be NULL")
    # Checked before the rules are read: NaN or 1.5 would fail every comparison, and a
    # misspelt label every sentiment rule, silently giving the fall-through offer.
    will_churn = rules.probability("will_churn", will_churn)
    confidence = rules.probability("confidence", confidence)
    label = rules.sentiment_label(sentiment)
    rules.customer_key(customer_key)
    cust = _customer(customer)
    loaded = _rule_set(plpy, rule_set, as_of)
    env = rules.customer_env(cust, loaded.inputs) if cust else {}
    env["will_churn"] = will_churn
    env["sentiment"] = label
    env["confidence"] = confidence
    return rules.recommend(loaded, env, customer_key)


@entry
def check_condition(plpy: Plpy, condition: str | None) -> str:
    if condition is not None and len(condition) > rules.MAX_CONDITION_CHARS:
        raise StringDataRightTruncation(
            f"the condition is {len(condition)} characters long, more than {rules.MAX_CONDITION_CHARS}",
            detail=f"A rule's condition is at most {rules.MAX_CONDITION_CHARS} characters.", hint="Shorten it.")
    tree = conditions.parse(condition, _input_types(plpy))
    return json.dumps({**tree, "normalised": conditions.to_sql(tree)}, sort_keys=True)


# -- offer log, outcomes, experiment results ----------------------------

OUTCOMES = ("retained", "churned")


MAX_LISTED = 10


def _open_offer(plpy: Plpy, customer_key: str, recorded_at: str) -> int:
    """The customer's one open offer (no outcome yet) made at or before recorded_at.

    Binding to the latest offer instead would let any row logged later for the same key
    (churnml_user may log offers) capture the outcome of the real one: with two open
    offers the caller must say which."""
    plan = prepared(plpy, "offers_by_customer", """
        SELECT l.id, o.offer_id IS NOT NULL AS closed FROM churnml.offer_log AS l
        LEFT JOIN churnml.offer_outcomes AS o ON o.offer_id OPERATOR(pg_catalog.=) l.id
        WHERE l.customer_key OPERATOR(pg_catalog.=) $1 AND l.offered_at OPERATOR(pg_catalog.<=) $2
        ORDER BY l.offered_at DESC, l.id DESC""", ["pg_catalog.text", "pg_catalog.timestamptz"])
    rows = plpy.execute(plan, [customer_key, recorded_at])
    open_ids = [int(r["id"]) for r in rows if not r["closed"]]
    if len(open_ids) == 1:
        return open_ids[0]

    def listed(ids: list[int]) -> str:
        more = f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
        return ", ".join(str(i) for i in ids[:MAX_LISTED]) + more

    if open_ids:
        raise CardinalityViolation(
            f'customer "{customer_key}" has {len(open_ids)} open offers: pass the offer id',
            detail=f"Offers without an outcome made at or before {recorded_at}: {listed(open_ids)} (latest first).",
            hint="Call churnml.record_outcome(offer_id, outcome) with the id of the offer this outcome answers.")
    if rows:
        raise UndefinedObject(
            f'customer "{customer_key}" has no open offer at or before {recorded_at}',
            detail=f"Every offer made to the customer already has an outcome: {listed([int(r['id']) for r in rows])}.",
            hint="To change an outcome, call churnml.record_outcome(offer_id, outcome) with the offer's id.")
    raise UndefinedObject(f'no offer was made to customer "{customer_key}" at or before {recorded_at}',
                          hint="Outcomes are recorded against offers in churnml.offer_log.")


@entry
def record_outcome(plpy: Plpy, offer_id: int | None, customer_key: str | None, outcome: str | None,
                   recorded_at: str | None, note: str | None) -> int:
    if outcome is None or outcome.strip().lower() not in OUTCOMES:
        shown = "NULL" if outcome is None else json.dumps(outcome)[:70]
        raise InvalidParameter(f"outcome must be 'retained' or 'churned', not {shown}")
    if recorded_at is None:
        raise NullValueNotAllowed("recorded_at must not be NULL")
    outcome = outcome.strip().lower()
    if offer_id is not None:
        plan = prepared(plpy, "offer_by_id", """
            SELECT id, offered_at OPERATOR(pg_catalog.<=) $2 AS in_order FROM churnml.offer_log
            WHERE id OPERATOR(pg_catalog.=) $1""", ["bigint", "pg_catalog.timestamptz"])
        rows = plpy.execute(plan, [offer_id, recorded_at])
        if not rows:
            raise UndefinedObject(f"offer {offer_id} is not in the offer log")
        if not rows[0]["in_order"]:
            raise InvalidParameter(f"the outcome of offer {offer_id} cannot be recorded before the offer was made",
                                   detail=f"recorded_at is {recorded_at}.")
        offer = int(rows[0]["id"])
    else:
        if customer_key is None:
            raise NullValueNotAllowed("give an offer id or a customer key")
        offer = _open_offer(plpy, customer_key, recorded_at)
    # recorded_by is the database's: the column default, or the trigger on an update
    plan = prepared(plpy, "record_outcome", """
        INSERT INTO churnml.offer_outcomes AS o (offer_id, outcome, recorded_at, note) VALUES ($1, $2, $3, $4)
        ON CONFLICT (offer_id) DO UPDATE SET outcome = excluded.outcome, recorded_at = excluded.recorded_at,
                                             note = excluded.note""",
                 ["bigint", "pg_catalog.text", "pg_catalog.timestamptz", "pg_catalog.text"])
    plpy.execute(plan, [offer, outcome, recorded_at, note])
    return offer


@entry
def experiment_results(plpy: Plpy, experiment: str | None, control_arm: str | None) -> list[dict[str, Any]]:
    if experiment is None:
        raise NullValueNotAllowed("experiment must not be NULL")
    plan = prepared(plpy, "experiment",
                    "SELECT control_arm FROM churnml.experiments WHERE name OPERATOR(pg_catalog.=) $1",
                    ["pg_catalog.text"])
    found = plpy.execute(plan, [experiment])
    if not found:
        raise UndefinedObject(f'experiment "{experiment}" does not exist',
                              hint="SELECT name FROM churnml.experiments lists them.")
    control = control_arm if control_arm is not None else found[0]["control_arm"]
    plan = prepared(plpy, "experiment_arms", """
        SELECT l.arm, pg_catalog.string_agg(DISTINCT l.offer, ' / ') AS offer, count(*) AS offers,
               count(o.offer_id) AS outcomes_known,
               count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'retained') AS retained,
               COALESCE(sum(l.offer_value), 0) AS total_cost
        FROM churnml.offer_log AS l
        LEFT JOIN churnml.offer_outcomes AS o ON o.offer_id OPERATOR(pg_catalog.=) l.id
        WHERE l.experiment OPERATOR(pg_catalog.=) $1
        GROUP BY l.arm""", ["pg_catalog.text"])
    rows = {r["arm"]: dict(r) for r in plpy.execute(plan, [experiment])}
    plan = prepared(plpy, "experiment_rule_arms", """
        SELECT arms::pg_catalog.text AS arms FROM churnml.incentive_rules
        WHERE experiment OPERATOR(pg_catalog.=) $1 AND arms IS NOT NULL ORDER BY id""", ["pg_catalog.text"])
    for r in plpy.execute(plan, [experiment]):
        for arm in _loads(r["arms"]):
            rows.setdefault(arm["arm"], {"arm": arm["arm"], "offer": arm["offer"], "offers": 0, "outcomes_known": 0,
                                         "retained": 0, "total_cost": Decimal(0)})
    if control is not None and control not in rows:
        raise InvalidParameter(f'experiment "{experiment}" has no arm "{control}"',
                               detail="Its arms: " + ", ".join(sorted(rows)) + ".")
    return results.arm_results(list(rows.values()), control)


# -- cost of a rule set -------------------------------------------------


@entry
def rule_set_cost(plpy: Plpy, rule_set: str | None, retained_value: Any, save_rate: float | None, model: str | None,
                  acceptance_rate: float | None, sentiment_mix: str | None, confidence: float | None,
                  as_of: str | None) -> list[dict[str, Any]]:
    if rule_set is None or model is None or as_of is None:
        raise NullValueNotAllowed("rule_set, model and as_of must not be NULL")
    confidence = rules.probability("confidence", confidence)
    limits.check_json_argument(sentiment_mix, "sentiment_mix",
                               'Pass the share of each label, e.g. {"NEGATIVE": 0.3, "NEUTRAL": 0.7}.')
    mix = rules.parse_sentiment_mix(_json_argument(sentiment_mix, "sentiment_mix")
                                    if sentiment_mix is not None else None)
    loaded = load_rule_set(plpy, rule_set, as_of)
    labels, scores = registry.holdout(plpy, registry.model_id_for(plpy, model, caller="churnml.rule_set_cost"))
    rows = rules.rule_set_cost(loaded, labels, scores,
                               retained_value=float(retained_value) if retained_value is not None else None,
                               save_rate=save_rate, acceptance_rate=acceptance_rate, sentiment_mix=mix,
                               confidence=confidence)
    return [{key: _shown(key, value) for key, value in row.items()} for row in rows]


# rule_set_cost's numbers as people read them: counts are sums of weights (shares of a
# sentiment mix, of experiment arms), so 176 came out as 175.99999999999855. Counts are
# rounded to 6 decimals (what float sums get wrong is far below) and shown without trailing
# zeros (176, 52.5, 0.375); money to cents.
_COUNTS = frozenset({"customers", "churners", "expected_saves", "unpriced"})
_MONEY = frozenset({"incentive_cost", "saved_value", "net_value"})


def _shown(key: str, value: Any) -> Any:
    if value is None or key not in _COUNTS | _MONEY:
        return value
    text = f"{value:.6f}" if key in _COUNTS else f"{value:.2f}"
    if key in _COUNTS:
        text = text.rstrip("0").rstrip(".")
    return Decimal(text.lstrip("-")) if not Decimal(text) else Decimal(text)  # no "-0" / "-0.00"
