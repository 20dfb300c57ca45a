"""The one place where Python exceptions become PostgreSQL errors.

Library code raises `ChurnmlError` subclasses (or lets ordinary Python exceptions
escape); the `churnml.sql_api.entry.entry` decorator on every UDF entry point turns them into
`plpy.error(...)` calls carrying SQLSTATE, message, detail and hint, so a client
sees a normal PostgreSQL error and the backend never dies.

Messages follow PostgreSQL style: lowercase start, no trailing period; detail and
hint are full sentences.
"""

from __future__ import annotations

from churnml.spi import Plpy


class ChurnmlError(Exception):
    """An error with everything PostgreSQL needs to report it."""

    sqlstate = "XX000"

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidParameter(ChurnmlError):
    """A function argument has a value the function cannot use."""

    sqlstate = "22023"  # invalid_parameter_value


class FeatureNotSupported(ChurnmlError):
    sqlstate = "0A000"  # feature_not_supported


class NullValueNotAllowed(ChurnmlError):
    sqlstate = "22004"  # null_value_not_allowed


class NumericValueOutOfRange(ChurnmlError):
    """A number is NaN, infinite or outside the range the argument allows."""

    sqlstate = "22003"  # numeric_value_out_of_range


class CardinalityViolation(ChurnmlError):
    """A lookup meant to find one row found several (e.g. an outcome by an ambiguous customer key)."""

    sqlstate = "21000"  # cardinality_violation


class DataException(ChurnmlError):
    """Input data (rows, labels, files) cannot be used as given."""

    sqlstate = "22000"  # data_exception


class UndefinedObject(ChurnmlError):
    """A named model, deployment or rule does not exist."""

    sqlstate = "42704"  # undefined_object


class NoDataFound(ChurnmlError):
    """A lookup by key found nothing (e.g. an unknown customer)."""

    sqlstate = "P0002"  # no_data_found


class DuplicateObject(ChurnmlError):
    sqlstate = "42710"  # duplicate_object


class DuplicateFunction(ChurnmlError):
    """A function of that name and arguments exists and is not churnml's to replace."""

    sqlstate = "42723"  # duplicate_function


class UndefinedColumn(ChurnmlError):
    sqlstate = "42703"  # undefined_column


class StringDataRightTruncation(ChurnmlError):
    """A text longer than its column or argument allows (PostgreSQL's "value too long")."""

    sqlstate = "22001"  # string_data_right_truncation


class InvalidName(ChurnmlError):
    """A text that should name a table or column is not a valid name."""

    sqlstate = "42602"  # invalid_name


class WrongObjectType(ChurnmlError):
    """A name resolves to an object of the wrong kind (e.g. a sequence where a table is needed)."""

    sqlstate = "42809"  # wrong_object_type


class UndefinedTable(ChurnmlError):
    """A named table, view or other relation does not exist."""

    sqlstate = "42P01"  # undefined_table


class ProgramLimitExceeded(ChurnmlError):
    """A request larger than a configured limit (churnml.max_batch_texts, ...)."""

    sqlstate = "54000"  # program_limit_exceeded


class StatementTooComplex(ChurnmlError):
    """Input nested deeper than churnml reads (PostgreSQL's own "stack depth limit exceeded")."""

    sqlstate = "54001"  # statement_too_complex


class DatatypeMismatch(ChurnmlError):
    sqlstate = "42804"  # datatype_mismatch


class WrongArgumentCount(ChurnmlError):
    sqlstate = "42P13"  # invalid_function_definition: arity does not match the model


class InsufficientPrivilege(ChurnmlError):
    sqlstate = "42501"


class ObjectNotInPrerequisiteState(ChurnmlError):
    """E.g. scoring with a model name that has no deployment."""

    sqlstate = "55000"


class ReadOnlyTransaction(ChurnmlError):
    sqlstate = "25006"


class RuntimeMissing(ChurnmlError):
    """The Python runtime the backend needs is absent or broken."""

    sqlstate = "58P01"  # undefined_file: a required file/module is not there


class VersionMismatch(ChurnmlError):
    """The Python code loaded in this backend is not the installed extension's version."""

    sqlstate = "55000"


class DataCorrupted(ChurnmlError):
    """A stored artifact failed its checksum or could not be parsed."""

    sqlstate = "XX001"  # data_corrupted


class ExternalServiceError(ChurnmlError):
    """Object storage or another outside system answered with an error."""

    sqlstate = "58000"  # system_error


# Ordinary Python exceptions that escape library code, mapped by type (first match
# wins, so subclasses come before their bases).
_BUILTIN_MAP: tuple[tuple[type[BaseException], str, str], ...] = (
    (MemoryError, "53200", "out of memory in churnml"),
    # Python's recursion limit, e.g. json.loads of a 3,000-deep array: PostgreSQL's own
    # "stack depth limit exceeded" (statement_too_complex)
    (RecursionError, "54001", "input nested too deeply for churnml"),
    (ZeroDivisionError, "22012", "division by zero in churnml"),
    (OverflowError, "22003", "numeric value out of range in churnml"),
    (UnicodeError, "22021", "invalid text encoding in churnml"),
    (ImportError, "58P01", "churnml could not import a Python module"),
    (ValueError, "22023", "invalid value in churnml"),
    (TypeError, "42804", "wrong data type in churnml"),
)


def shown_number(value: float) -> str:
    """A float as SQL prints it in a message: NaN, Infinity, -Infinity, else the shortest form."""
    if value != value:  # NaN
        return "NaN"
    return f"{value:g}".replace("inf", "Infinity")


def sql_literal(value: str) -> str:
    """`value` as a SQL string literal, for the SQL a hint suggests (a name with a quote in it
    must not turn the suggested statement into something else)."""
    return "'" + value.replace("'", "''") + "'"


def _reported_fields(exc: BaseException) -> tuple[str, str, str | None, str | None] | None:
    """(sqlstate, message, detail, hint) of an exception that carries them as attributes: churnml's own
    errors and those of the loaders (churnml_loaders.errors), which do not know this module."""
    sqlstate, message = getattr(exc, "sqlstate", None), getattr(exc, "message", None)
    if not (isinstance(sqlstate, str) and len(sqlstate) == 5 and isinstance(message, str)):
        return None
    detail, hint = getattr(exc, "detail", None), getattr(exc, "hint", None)
    return sqlstate, message, detail if isinstance(detail, str) else None, hint if isinstance(hint, str) else None


def describe(exc: BaseException) -> tuple[str, str, str | None, str | None]:
    """Return (sqlstate, message, detail, hint) for any exception."""
    reported = _reported_fields(exc)
    if reported is not None:
        return reported
    for kind, sqlstate, message in _BUILTIN_MAP:
        if isinstance(exc, kind):
            hint = None
            if isinstance(exc, ImportError):
                hint = "Run `make install` so the runtime directory has every pinned package, then reconnect."
            if isinstance(exc, RecursionError):  # Python's text names its own decoder and limit
                return sqlstate, message, "The input has more levels of nesting than churnml reads.", None
            return sqlstate, message, _detail_of(exc), hint
    return (
        "XX000",
        "internal error in churnml",
        f"Python raised {type(exc).__name__}: {_detail_of(exc) or 'no message'}",
        "This is a bug in churnml; please report it with the statement that caused it.",
    )


def _detail_of(exc: BaseException) -> str | None:
    """What the exception says, as a DETAIL sentence: its text, not its Python class."""
    text = str(exc).strip()
    if not text:
        return None
    text = text[:500] + ("…" if len(text) > 500 else "")
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "…")) else ".")


_SQL_ERROR_CLASS: dict[int, type] = {}


def _sql_error_class(plpy: Plpy) -> type:
    """A plpy.Error subclass that PL/Python reports as "churnml: <message>".

    PL/Python prefixes every error message with the exception's type name
    ("plpy.Error: ..."); a class named `churnml` in `builtins` makes that prefix
    the extension's name instead. Being a plpy.Error, its sqlstate, detail and hint
    attributes reach the client.
    """
    cls = _SQL_ERROR_CLASS.get(id(plpy.Error))
    if cls is None:
        cls = type("churnml", (plpy.Error,), {"__module__": "builtins"})
        _SQL_ERROR_CLASS[id(plpy.Error)] = cls
    return cls


def _unpack_sqlstate(code: int) -> str:
    """PostgreSQL's packed error code (MAKE_SQLSTATE: six bits a character) as its five characters."""
    return "".join(chr(((code >> (6 * i)) & 0x3F) + ord("0")) for i in range(5))


def spi_error_fields(exc: BaseException) -> tuple[str, str, str | None, str | None]:
    """(sqlstate, message, detail, hint) of a plpy.SPIError: what the server reported."""
    sqlstate = getattr(exc, "sqlstate", None)
    detail = hint = None
    data = getattr(exc, "spidata", None)
    if isinstance(data, tuple) and len(data) >= 3:
        code, detail, hint = data[0], data[1], data[2]
        if sqlstate is None and isinstance(code, int):
            sqlstate = _unpack_sqlstate(code)
    message = str(exc.args[0]) if exc.args else str(exc)
    return sqlstate or "XX000", message, detail, hint


# What the server reports for a name it cannot parse: to_regclass's "invalid name syntax"
# (42602), parse_ident's "string is not a valid identifier" (22023), a syntax error (42601).
_NOT_A_NAME = frozenset({"42602", "22023", "42601"})


def not_a_name(exc: BaseException) -> bool:
    """Whether an SPI error only says "this text is not a name". Code that tries a text as
    a name must catch just these: a broad `except plpy.SPIError` would also swallow a cancel
    (57014) or a terminate and carry on."""
    return spi_error_fields(exc)[0] in _NOT_A_NAME


def raise_spi_error_as_sql(plpy: Plpy, exc: BaseException) -> None:
    """Re-raise an error of a statement churnml ran, without PL/Python's class-name prefix."""
    sqlstate, message, detail, hint = spi_error_fields(exc)
    # a churnml function called through SPI (table_import_from_s3 calls load_from_s3) already said
    # "churnml: "; the class-named error below says it once more
    _raise(plpy, sqlstate, message.removeprefix("churnml: "), detail, hint)


def raise_as_sql(plpy: Plpy, exc: BaseException) -> None:
    """Raise `exc` as a PostgreSQL error through plpy (never returns)."""
    _raise(plpy, *describe(exc))


def raise_plpy_error_as_sql(plpy: Plpy, exc: BaseException) -> None:
    """Re-raise a plain plpy.Error (PL/Python raises one when, e.g., plpy.notice is interrupted by a
    cancel) as churnml's: same SQLSTATE, detail and hint, without "plpy.Error:" in front."""
    if type(exc) is _sql_error_class(plpy):
        raise exc
    message = str(exc.args[0]) if exc.args else str(exc)
    _raise(plpy, getattr(exc, "sqlstate", None) or "XX000", message.removeprefix("churnml: "),
           getattr(exc, "detail", None), getattr(exc, "hint", None))


# Bounds on what an error repeats back: a message, detail or hint may quote an argument,
# and an argument can be a million characters or hold control characters.
MAX_MESSAGE = 500
MAX_DETAIL = 2000
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)}
_CONTROL_ALL = {**_CONTROL, 0x09: "\\t", 0x0A: "\\n"}


def _bounded(text: str | None, limit: int, *, lines: bool) -> str | None:
    if text is None:
        return None
    text = text.translate(_CONTROL if lines else _CONTROL_ALL)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _raise(plpy: Plpy, sqlstate: str, message: str, detail: str | None, hint: str | None) -> None:
    if detail is not None and detail.startswith("Failing row contains"):
        detail = None  # PostgreSQL's dump of the whole row (a model's artifact, a customer): never repeated
    error = _sql_error_class(plpy)(_bounded(message, MAX_MESSAGE, lines=False))
    error.sqlstate = sqlstate
    error.detail = _bounded(detail, MAX_DETAIL, lines=True)
    error.hint = _bounded(hint, MAX_DETAIL, lines=True)
    raise error from None
