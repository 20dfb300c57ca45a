"""SQL area of the churnml_aws extension: Aurora ML's functions, answered by churnml.

Each entry point keeps Aurora's arguments and results and hands the work to the
churnml function that does it: detect_sentiment to the sentiment engines,
invoke_endpoint to a deployed model, the aws_s3 functions to the loaders. Where
churnml differs on purpose (credentials are never SQL arguments) the error says so.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from churnml import endpoint_outputs, server
from churnml.errors import (
    ChurnmlError,
    DataException,
    InvalidParameter,
    NullValueNotAllowed,
    WrongArgumentCount,
    sql_literal,
)
from churnml.monitoring import prediction_log
from churnml.scoring import model_cache
from churnml.scoring.feature_batches import features_hint
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry
from churnml.training.sql_types import type_family

# Aurora PostgreSQL starts a new object after about 6 GB of export.
AURORA_PART_SIZE = 6 * 1024**3
_TRUE = {"t", "true", "y", "yes", "on", "1"}
_FALSE = {"f", "false", "n", "no", "off", "0"}


class CredentialsRefused(ChurnmlError):
    sqlstate = "0A000"  # feature_not_supported


@entry
def refuse_credentials(plpy: Plpy) -> None:
    raise CredentialsRefused(
        "AWS credentials as SQL arguments are not supported",
        detail="Credentials written into SQL reach the server log, pg_stat_activity and client histories; "
               "churnml never uses them, nor falls back to the server's own.",
        hint="A DBA configures the S3 credentials once ($PGDATA/churnml/s3.json) and declares the bucket as a "
             "storage location granted to your role (churnml.create_storage_location, churnml.grant_storage: "
             "docs/from-aurora.md); then call the form without credentials: "
             "aws_s3.table_import_from_s3(table_name, column_list, options, s3_info) or "
             "(table_name, column_list, options, bucket, file_path, region).")


def _check_batch(max_rows_per_batch: int | None) -> None:
    if max_rows_per_batch is not None and max_rows_per_batch < 1:
        raise InvalidParameter(f"max_rows_per_batch must be NULL or positive, not {max_rows_per_batch}",
                               hint="churnml scores inside the server, so batching does not change results; pass NULL.")


@entry
def detect_sentiment(plpy: Plpy, text: str | None, language: str | None,
                     max_rows_per_batch: int | None) -> dict[str, Any] | None:
    """Aurora's signature, which has no engine argument: the engine is the churnml.sentiment_engine setting."""
    from churnml.sentiment import statement_cache
    from churnml.sql_api.sentiment import scorer_for

    _check_batch(max_rows_per_batch)
    if language is None:
        raise NullValueNotAllowed("language_code must not be NULL", hint="Pass 'en'.")
    result = statement_cache.result(text, scorer_for(plpy, language, server.setting("churnml.sentiment_engine")))
    if result is None:
        return {"sentiment": None, "confidence": None}
    return {"sentiment": result.label, "confidence": result.confidence}


def _typed(value: str | None, feature: Any, position: int) -> Any:
    """The text form of one model input as the value its feature takes (None stays missing)."""
    if value is None:
        return None
    family = type_family(feature.sql_type)
    if family == "numeric":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isnan(number) and value.strip().lower() != "nan":
            raise DataException(f"model input {position} ({feature.name}) must be a number, not {value!r}",
                                hint=f"Feature {feature.name} is {feature.sql_type}.")
        return number
    if family == "boolean":
        word = value.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise DataException(f"model input {position} ({feature.name}) must be a boolean, not {value!r}")
    return value


@entry
def invoke_endpoint(plpy: Plpy, endpoint: str | None, max_rows_per_batch: int | None,
                    inputs: list[str | None] | None) -> str | None:
    if endpoint is None:
        raise NullValueNotAllowed("endpoint_name must not be NULL",
                                  hint="Name a model deployed with churnml.deploy, e.g. 'churn'.")
    _check_batch(max_rows_per_batch)
    if inputs is None:  # as invoke_endpoint(..., VARIADIC NULL): nothing to score
        return None
    serving = model_cache.serving(plpy, endpoint)
    loaded = serving.model
    features = loaded.spec.features
    if len(inputs) != len(features):
        raise WrongArgumentCount(
            f"endpoint \"{endpoint}\" takes {len(features)} model inputs, not {len(inputs)}",
            detail=features_hint(loaded),
            hint="Pass the features in training order (the detail lists them), or score whole rows "
                 "with churnml.will_churn(c).")
    values = [_typed(v, f, i + 1) for i, (v, f) in enumerate(zip(inputs, features, strict=True))]
    probability = loaded.score_values(values)
    if serving.logging is not None and prediction_log.sampled(serving.logging):
        from churnml.sql_api.scoring import log_features

        log_features(plpy, endpoint, serving, probability, values)
    return endpoint_outputs.answer(serving.endpoint_output, probability, serving.threshold)


def _s3_uri(s3_info: dict[str, Any] | None) -> str:
    if s3_info is None or not s3_info.get("bucket") or not s3_info.get("file_path"):
        raise InvalidParameter("s3_info must name a bucket and a file path",
                               detail="Its bucket or file_path is NULL or empty.",
                               hint="Build it with aws_commons.create_s3_uri('bucket', 'path/file.csv', 'region').")
    return f"s3://{s3_info['bucket']}/{s3_info['file_path'].lstrip('/')}"


@entry
def query_export_to_s3(plpy: Plpy, query: str | None, s3_info: dict[str, Any] | None, options: str | None,
                       search_path: str | None) -> dict[str, int]:
    from churnml.loader_sql import copy_options
    from churnml.sql_api.loaders import run_export
    from churnml_loaders.manifest import AURORA_PG_PARTS

    parsed = copy_options.checked(plpy, options, "export")
    if query is None:
        raise NullValueNotAllowed("query must not be NULL", detail="The export needs the query whose rows it writes.",
                                  hint="Pass a SELECT, e.g. 'SELECT * FROM customers'.")
    # Aurora's semantics: objects are replaced, no manifest, file, file_part2, ...
    rows, files, size = run_export(plpy, query, _s3_uri(s3_info), parsed.format, parsed.header, False, True, None,
                                   AURORA_PART_SIZE, search_path, naming=AURORA_PG_PARTS,
                                   copy=parsed)
    return {"rows_uploaded": rows, "files_uploaded": files, "bytes_uploaded": size}


_COLUMN = re.compile(r'\s*(?:"((?:[^"]|"")+)"|([^\W\d][\w$]*))\s*(,|$)')


def column_names(column_list: str | None) -> list[str] | None:
    """'a, "B c", d' → ['a', 'B c', 'd'] (identifiers as PostgreSQL folds them); '' → None (all)."""
    if column_list is None or not column_list.strip():
        return None
    text = column_list.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    names: list[str] = []
    position = 0
    while True:
        match = _COLUMN.match(text, position)
        if match is None:
            raise InvalidParameter(f"column_list {sql_literal(column_list[:200])} must be column names separated "
                                   "by commas",
                                   detail=f"It cannot be read past character {position + 1}.",
                                   hint="Quote unusual names with \"...\".")
        quoted, plain, separator = match.groups()
        names.append(quoted.replace('""', '"') if quoted is not None else plain.lower())
        position = match.end()
        if not separator:
            return names


_RESOLVE = ("SELECT $1::pg_catalog.regclass::pg_catalog.oid AS oid, "
            "$1::pg_catalog.regclass::pg_catalog.text AS name")
_LOAD = ("SELECT churnml._load_from_s3($1::pg_catalog.oid::pg_catalog.regclass, $2, 'file', $3, $4, 0, $5, "
         "'error', $6, $7) AS n")
_LOADED = ("SELECT objects::pg_catalog.text AS objects FROM churnml.load_history "
           "WHERE id OPERATOR(pg_catalog.=) pg_catalog.currval('churnml.load_history_id_seq')")


@entry
def table_import_from_s3(plpy: Plpy, table_name: str | None, column_list: str | None, options: str | None,
                         s3_info: dict[str, Any] | None, search_path: str | None) -> str:
    from churnml.source_data import caller_search_path

    if table_name is None:
        raise NullValueNotAllowed("table_name must not be NULL", detail="The import needs the table it fills.",
                                  hint="Pass the table's name, e.g. 'customers'.")
    from churnml.loader_sql import copy_options

    parsed = copy_options.checked(plpy, options, "import")  # checked before anything is read
    uri = _s3_uri(s3_info)
    assert s3_info is not None  # _s3_uri refused None
    columns = column_names(column_list)
    if columns is not None and len(set(columns)) != len(columns):  # said in Aurora's terms, before any work
        raise InvalidParameter("column_list names a column twice",
                               detail=f"column_list is {sql_literal((column_list or '')[:300])}.",
                               hint="Name each column once.")
    with caller_search_path(plpy, search_path):
        target = plpy.execute(prepared(plpy, "aws:resolve", _RESOLVE, ["pg_catalog.text"]), [table_name])[0]
    load = prepared(plpy, "aws:load", _LOAD, ["pg_catalog.oid", "pg_catalog.text", "pg_catalog.text",
                                              "pg_catalog.bool", "pg_catalog.text[]", "pg_catalog.text",
                                              "pg_catalog.text"])
    # the options text as given: _load_from_s3 reads it again, with the format and header it says
    rows = plpy.execute(load, [target["oid"], uri, parsed.format, parsed.header, columns, options,
                               search_path])[0]["n"]
    objects = json.loads(plpy.execute(prepared(plpy, "aws:loaded", _LOADED, []))[0]["objects"])
    size = sum(int(o.get("bytes") or 0) for o in objects)
    if size == 0:
        # Aurora: "Importing 0 bytes file will cause an error." The error undoes the (empty) load.
        raise DataException(f"object {uri} is empty (0 bytes)",
                            detail="aws_s3.table_import_from_s3 refuses an empty object, as Aurora PostgreSQL does.",
                            hint="Check the object's name; churnml.load_from_s3 loads an empty object as 0 rows.")
    return f"{rows} rows imported into relation \"{target['name']}\" from file {s3_info['file_path']} of {size} bytes"
