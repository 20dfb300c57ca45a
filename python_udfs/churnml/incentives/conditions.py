"""Rule conditions: a tiny, closed subset of SQL boolean expressions.

A condition such as ``sentiment = 'NEGATIVE' AND confidence > 0.7 AND will_churn > 0.8``
is tokenized and parsed here (never given to PostgreSQL or to Python's eval), checked
against the named inputs and their types, and stored as a JSON syntax tree. Rules are
evaluated by `compile_condition`, an interpreter over that tree with SQL's
three-valued logic.

Grammar (keywords and input names are case-insensitive; precedence as in PostgreSQL,
loosest first)::

    condition  := or_expr
    or_expr    := and_expr { OR and_expr }
    and_expr   := not_expr { AND not_expr }
    not_expr   := NOT not_expr | is_expr
    is_expr    := comparison { IS [NOT] NULL }
    comparison := range [ ( = | <> | != | < | <= | > | >= ) range ]      -- not chained
    range      := sum [ [NOT] IN ( sum { , sum } ) | [NOT] BETWEEN sum AND sum ]
    sum        := term { ( + | - ) term }
    term       := unary { ( * | / ) unary }
    unary      := ( - | + ) unary | primary
    primary    := number | 'string' | TRUE | FALSE | NULL | input_name | ( condition )

Anything else (function calls, subqueries, casts, semicolons, comments, quoted
identifiers, unknown names, other operators) is rejected with SQLSTATE 22023 and a
message naming the offending token and its 1-based character position.

Types: every input is numeric, text or boolean; comparison operands must have the
same type (NULL goes with anything), arithmetic needs numbers, AND/OR/NOT need
booleans, and the whole condition must be boolean.

Evaluation differs from SQL in two documented ways: ``/`` is exact division
(5 / 2 = 2.5, where SQL's integer division gives 2), and AND/OR stop at the first
operand that decides the result (FALSE for AND, TRUE for OR), left to right, so
``day_mins > 0 AND day_charge / day_mins > 0.2`` never divides by zero. Text
compares by code point (the "C" collation).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from churnml.errors import ChurnmlError, InvalidParameter

NUMERIC, TEXT, BOOLEAN, UNKNOWN = "numeric", "text", "boolean", "unknown"
INPUT_TYPES = (NUMERIC, TEXT, BOOLEAN)
AST_VERSION = 1
MAX_LENGTH = 4000
MAX_DEPTH = 32

KEYWORDS = frozenset({"and", "or", "not", "is", "null", "true", "false", "in", "between"})
# Words that start a query or a statement: reported as such rather than as unknown inputs.
STATEMENT_WORDS = frozenset({
    "select", "from", "where", "with", "union", "intersect", "except", "values", "table", "exists", "insert",
    "update", "delete", "drop", "create", "alter", "truncate", "grant", "revoke", "copy", "do", "call",
    "execute", "returning", "into", "set", "lateral", "join",
})
# Other SQL words a rule author may reach for; none is part of the condition language.
SQL_WORDS = frozenset({
    "like", "ilike", "similar", "case", "when", "then", "else", "end", "cast", "any", "all", "some", "array",
    "row", "collate", "distinct", "as", "order", "by", "limit", "escape", "over", "filter", "at", "zone",
    "isnull", "notnull", "unknown", "using", "on", "group", "having", "offset", "fetch", "for", "interval",
    "current_user", "current_date", "current_timestamp", "localtime", "localtimestamp", "session_user", "user",
})
COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
GRAMMAR_DETAIL = ("A condition may use only named inputs, literals (numbers, 'strings', TRUE, FALSE, NULL), "
                  "comparisons (= <> != < <= > >= IS [NOT] NULL, [NOT] IN, [NOT] BETWEEN), AND, OR, NOT, "
                  "+ - * / and parentheses.")

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_]")


class ConditionError(InvalidParameter):
    """A condition that is not in the language; names the offending token and its position."""

    def __init__(self, problem: str, token: str, position: int, *, hint: str | None = None,
                 subject: str = "rule condition") -> None:
        self.problem = problem
        self.token = token
        self.position = position
        super().__init__(f"invalid {subject}: {problem}", detail=GRAMMAR_DETAIL, hint=hint)

    def retitle(self, subject: str) -> ConditionError:
        """The same error, introduced as e.g. 'condition of rule "x"'."""
        return ConditionError(self.problem, self.token, self.position, hint=self.hint, subject=subject)


class DivisionByZero(ChurnmlError):
    sqlstate = "22012"  # division_by_zero


def _at(token: str, position: int) -> str:
    return f'"{token}" at position {position}'


class _Token:
    __slots__ = ("kind", "pos", "text", "value")

    def __init__(self, kind: str, value: Any, pos: int, text: str) -> None:
        self.kind = kind  # num, str, word, op, end, bad
        self.value = value  # for 'word': the lower-cased word; for 'bad': the problem
        self.pos = pos  # 1-based character position
        self.text = text  # as written

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.value in words

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.value in ops


_DIGITS = frozenset("0123456789")


def tokenize(text: str) -> list[_Token]:
    """The tokens of `text`, ending with an 'end' token.

    Characters outside the language become a 'bad' token at their position rather
    than an immediate error, so the parser reports the leftmost problem first.
    """
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        pos = i + 1
        if c in " \t\r\n\f":
            i += 1
            continue
        # ASCII digits only: str.isdigit() is also true for '²' or '٣', which _NUMBER does not match
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER.match(text, i)
            assert m is not None
            literal = m.group()
            end = m.end()
            if end < n and _WORD_CHAR.match(text[end]):
                end2 = end
                while end2 < n and _WORD_CHAR.match(text[end2]):
                    end2 += 1
                tokens.append(_Token("bad", f"invalid number {_at(text[i:end2], pos)}", pos, text[i:end2]))
                break
            value: Any = float(literal) if any(ch in literal for ch in ".eE") else int(literal)
            if (isinstance(value, float) and not math.isfinite(value)) or (isinstance(value, int) and value > 10**30):
                tokens.append(_Token("bad", f"number {_at(literal, pos)} is out of range", pos, literal))
                break
            tokens.append(_Token("num", value, pos, literal))
            i = end
            continue
        if c == "_" or (c.isascii() and c.isalpha()):
            m = _WORD.match(text, i)
            assert m is not None
            tokens.append(_Token("word", m.group().lower(), pos, m.group()))
            i = m.end()
            continue
        if c == "'":
            j, parts = i + 1, []
            while True:
                k = text.find("'", j)
                if k < 0:
                    tokens.append(_Token("bad", f"string starting {_at(chr(39), pos)} is never closed", pos, "'"))
                    return [*tokens, _Token("end", None, n + 1, "")]
                parts.append(text[j:k])
                if k + 1 < n and text[k + 1] == "'":
                    parts.append("'")
                    j = k + 2
                    continue
                break
            tokens.append(_Token("str", "".join(parts), pos, text[i:k + 1]))
            i = k + 1
            continue
        two = text[i:i + 2]
        if two in ("<=", ">=", "<>", "!="):
            tokens.append(_Token("op", "<>" if two == "!=" else two, pos, two))
            i += 2
            continue
        if two == "::":
            tokens.append(_Token("bad", f"cast {_at('::', pos)} is not allowed", pos, two))
            break
        if two in ("--", "/*"):
            tokens.append(_Token("bad", f"comment {_at(two, pos)} is not allowed", pos, two))
            break
        if c in "=<>+-*/(),":
            tokens.append(_Token("op", c, pos, c))
            i += 1
            continue
        if c == '"':
            tokens.append(_Token("bad", f"double quote at position {pos} is not allowed; write input names "
                                        "without quotes", pos, c))
        else:
            tokens.append(_Token("bad", f"{_at(c, pos)} is not allowed", pos, c))
        break
    tokens.append(_Token("end", None, n + 1, ""))
    return tokens


class _Parser:
    def __init__(self, text: str, inputs: Mapping[str, str]) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.inputs = inputs
        self.used: set[str] = set()
        self.depth = 0

    # -- token helpers -------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind == "bad":
            raise ConditionError(tok.value, tok.text, tok.pos)
        if tok.kind != "end":
            self.i += 1
        return tok

    def unexpected(self, tok: _Token | None = None) -> ConditionError:
        tok = tok or self.tok
        if tok.kind == "bad":
            return ConditionError(tok.value, tok.text, tok.pos)
        if tok.kind == "end":
            return ConditionError(f"unexpected end of condition at position {tok.pos}", "", tok.pos)
        return ConditionError(f"unexpected {_at(tok.text, tok.pos)}", tok.text, tok.pos)

    def need(self, node_type: str, wanted: tuple[str, ...], tok: _Token, what: str) -> None:
        if node_type != UNKNOWN and node_type not in wanted:
            raise ConditionError(f"{_at(tok.text, tok.pos)} {what}, not {node_type}", tok.text, tok.pos)

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"the condition is nested too deeply at {_at(tok.text, tok.pos)}", tok.text,
                                 tok.pos)

    # -- grammar -------------------------------------------------------
    def condition(self) -> tuple[dict[str, Any], str]:
        return self.or_expr()

    def _boolean_chain(self, word: str, operand: Callable[[], tuple[dict[str, Any], str]],
                       ) -> tuple[dict[str, Any], str]:
        start = self.tok
        node, node_type = operand()
        if not self.tok.is_word(word):
            return node, node_type
        self.need(node_type, (BOOLEAN,), start, f"is an operand of {word.upper()}, so it must be boolean")
        args = [node]
        while self.tok.is_word(word):
            self.advance()
            start = self.tok
            node, node_type = operand()
            self.need(node_type, (BOOLEAN,), start, f"is an operand of {word.upper()}, so it must be boolean")
            args.append(node)
        return {"op": word, "args": args}, BOOLEAN

    def or_expr(self) -> tuple[dict[str, Any], str]:
        return self._boolean_chain("or", self.and_expr)

    def and_expr(self) -> tuple[dict[str, Any], str]:
        return self._boolean_chain("and", self.not_expr)

    def not_expr(self) -> tuple[dict[str, Any], str]:
        if self.tok.is_word("not"):
            tok = self.advance()
            self.enter(tok)
            start = self.tok
            node, node_type = self.not_expr()
            self.depth -= 1
            self.need(node_type, (BOOLEAN,), start, "is the operand of NOT, so it must be boolean")
            return {"op": "not", "args": [node]}, BOOLEAN
        return self.is_expr()

    def is_expr(self) -> tuple[dict[str, Any], str]:
        node, node_type = self.comparison()
        while self.tok.is_word("is"):
            self.advance()
            negated = False
            if self.tok.is_word("not"):
                self.advance()
                negated = True
            if not self.tok.is_word("null"):
                tok = self.tok
                if tok.kind == "bad":
                    raise self.unexpected(tok)
                raise ConditionError(f"{_at(tok.text or 'end of condition', tok.pos)} cannot follow IS; only "
                                     "IS NULL and IS NOT NULL are allowed", tok.text, tok.pos)
            self.advance()
            node, node_type = {"op": "is_not_null" if negated else "is_null", "args": [node]}, BOOLEAN
        return node, node_type

    def comparison(self) -> tuple[dict[str, Any], str]:
        left, left_type = self.range_expr()
        if not self.tok.is_op(*COMPARISONS):
            return left, left_type
        op_tok = self.advance()
        right, right_type = self.range_expr()
        if UNKNOWN not in (left_type, right_type) and left_type != right_type:
            raise ConditionError(f"operator {_at(op_tok.text, op_tok.pos)} cannot compare {left_type} with "
                                 f"{right_type}", op_tok.text, op_tok.pos)
        if self.tok.is_op(*COMPARISONS):
            tok = self.tok
            raise ConditionError(f"comparisons cannot be chained: {_at(tok.text, tok.pos)}; combine them with AND",
                                 tok.text, tok.pos)
        return {"op": op_tok.value, "args": [left, right]}, BOOLEAN

    def range_expr(self) -> tuple[dict[str, Any], str]:
        left, left_type = self.sum_expr()
        negated = False
        if self.tok.is_word("not") and self.peek().is_word("in", "between"):
            self.advance()
            negated = True
        if self.tok.is_word("in"):
            in_tok = self.advance()
            if not self.tok.is_op("("):
                raise ConditionError(f"IN at position {in_tok.pos} needs a parenthesised list of values",
                                     in_tok.text, in_tok.pos)
            open_tok = self.advance()
            items = []
            while True:
                start = self.tok
                item, item_type = self.sum_expr()
                if UNKNOWN not in (left_type, item_type) and item_type != left_type:
                    raise ConditionError(f"{_at(start.text, start.pos)} is {item_type} but IN compares "
                                         f"{left_type} values", start.text, start.pos)
                items.append(item)
                if self.tok.is_op(","):
                    self.advance()
                    continue
                break
            self.close(open_tok)
            return {"op": "not_in" if negated else "in", "args": [left, *items]}, BOOLEAN
        if self.tok.is_word("between"):
            self.advance()
            bounds = []
            for k in range(2):
                start = self.tok
                bound, bound_type = self.sum_expr()
                if UNKNOWN not in (left_type, bound_type) and bound_type != left_type:
                    raise ConditionError(f"{_at(start.text, start.pos)} is {bound_type} but BETWEEN compares "
                                         f"{left_type} values", start.text, start.pos)
                bounds.append(bound)
                if k == 0:
                    if not self.tok.is_word("and"):
                        raise self.unexpected() if self.tok.kind in ("bad", "end") else ConditionError(
                            f"BETWEEN expects AND, not {_at(self.tok.text, self.tok.pos)}", self.tok.text,
                            self.tok.pos)
                    self.advance()
            return {"op": "not_between" if negated else "between", "args": [left, *bounds]}, BOOLEAN
        return left, left_type

    def _arithmetic(self, ops: tuple[str, ...], operand: Callable[[], tuple[dict[str, Any], str]],
                    ) -> tuple[dict[str, Any], str]:
        start = self.tok
        node, node_type = operand()
        while self.tok.is_op(*ops):
            op_tok = self.advance()
            self.need(node_type, (NUMERIC,), start, f"is an operand of {op_tok.text}, so it must be numeric")
            start = self.tok
            right, right_type = operand()
            self.need(right_type, (NUMERIC,), start, f"is an operand of {op_tok.text}, so it must be numeric")
            node, node_type = {"op": op_tok.value, "args": [node, right]}, NUMERIC
        return node, node_type

    def sum_expr(self) -> tuple[dict[str, Any], str]:
        return self._arithmetic(("+", "-"), self.term)

    def term(self) -> tuple[dict[str, Any], str]:
        return self._arithmetic(("*", "/"), self.unary)

    def unary(self) -> tuple[dict[str, Any], str]:
        if self.tok.is_op("-", "+"):
            tok = self.advance()
            self.enter(tok)
            start = self.tok
            node, node_type = self.unary()
            self.depth -= 1
            self.need(node_type, (NUMERIC,), start, f"follows a unary {tok.text}, so it must be numeric")
            if tok.value == "+":
                return node, NUMERIC
            if "const" in node and node["const"] is not None:
                return {"const": -node["const"]}, NUMERIC
            return {"op": "neg", "args": [node]}, NUMERIC
        return self.primary()

    def close(self, open_tok: _Token) -> None:
        if self.tok.is_op(")"):
            self.advance()
            return
        if self.tok.kind == "end":
            raise ConditionError(f"{_at('(', open_tok.pos)} is never closed", "(", open_tok.pos)
        raise self.unexpected()

    def primary(self) -> tuple[dict[str, Any], str]:
        tok = self.tok
        if tok.kind == "num":
            self.advance()
            return {"const": tok.value}, NUMERIC
        if tok.kind == "str":
            self.advance()
            return {"const": tok.value}, TEXT
        if tok.is_op("("):
            self.advance()
            if self.tok.is_word("select", "with", "values", "table"):
                sub = self.tok
                raise ConditionError(f"subquery {_at(sub.text, sub.pos)} is not allowed", sub.text, sub.pos)
            self.enter(tok)
            node, node_type = self.condition()
            self.depth -= 1
            self.close(tok)
            return node, node_type
        if tok.kind == "word":
            word = tok.value
            if word in ("true", "false"):
                self.advance()
                return {"const": word == "true"}, BOOLEAN
            if word == "null":
                self.advance()
                return {"const": None}, UNKNOWN
            if self.peek().is_op("(") and word not in KEYWORDS:
                raise ConditionError(f"function call {_at(tok.text, tok.pos)} is not allowed", tok.text, tok.pos)
            if word in self.inputs:
                self.advance()
                self.used.add(word)
                return {"input": word}, self.inputs[word]
            if word in STATEMENT_WORDS:
                raise ConditionError(f"SQL statement or subquery word {_at(tok.text, tok.pos)} is not allowed",
                                     tok.text, tok.pos)
            if word in SQL_WORDS or word in KEYWORDS:
                raise ConditionError(f"unexpected {_at(tok.text, tok.pos)}", tok.text, tok.pos)
            raise ConditionError(f"unknown input {_at(tok.text, tok.pos)}", tok.text, tok.pos,
                                 hint=_inputs_hint(self.inputs))
        raise self.unexpected()

    def expect_end(self) -> None:
        tok = self.tok
        if tok.kind == "end":
            return
        if tok.is_op(")"):
            raise ConditionError(f"{_at(')', tok.pos)} has no matching \"(\"", ")", tok.pos)
        if tok.kind == "word" and self.peek().is_op("(") and tok.value not in KEYWORDS:
            raise ConditionError(f"function call {_at(tok.text, tok.pos)} is not allowed", tok.text, tok.pos)
        raise self.unexpected()


def _inputs_hint(inputs: Mapping[str, str]) -> str:
    return "Known inputs: " + ", ".join(sorted(inputs)) + ". An admin adds inputs to churnml.incentive_inputs."


def parse(text: str | None, inputs: Mapping[str, str]) -> dict[str, Any]:
    """Validate `text` against `inputs` (name -> numeric|text|boolean); return its syntax tree.

    The tree is {"version": 1, "expr": node, "inputs": [names used]}, where a node is
    {"const": value}, {"input": name} or {"op": name, "args": [nodes]}.
    """
    if text is None or not text.strip():
        raise ConditionError("the condition is empty", "", 1, hint="A rule that always applies has the condition TRUE.")
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"the condition is longer than {MAX_LENGTH} characters", "", MAX_LENGTH + 1)
    lowered = {name.lower(): kind for name, kind in inputs.items()}
    parser = _Parser(text, lowered)
    node, node_type = parser.condition()
    parser.expect_end()
    if node_type not in (BOOLEAN, UNKNOWN):
        first = parser.tokens[0]
        raise ConditionError(f"the condition is {node_type}, not boolean (starting {_at(first.text, first.pos)})",
                             first.text, first.pos)
    return {"version": AST_VERSION, "expr": node, "inputs": sorted(parser.used)}


# -- the interpreter ----------------------------------------------------

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise DivisionByZero("division by zero in a rule condition",
                             detail=f"The condition divided {a} by zero.",
                             hint="Guard the division, e.g. day_mins > 0 AND day_charge / day_mins > 0.2 "
                                  "(AND stops at the first FALSE).")
    return a / b


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide,
}


def _node(node: Mapping[str, Any]) -> Compiled:
    if "const" in node:
        value = node["const"]
        return lambda env: value
    if "input" in node:
        name = node["input"]
        return lambda env: env.get(name)
    op: str = node["op"]
    args = [_node(a) for a in node["args"]]
    if op in ("and", "or"):
        decisive = op == "or"  # OR stops at TRUE, AND at FALSE

        def chain(env: Env) -> bool | None:
            unknown = False
            for arg in args:
                value: bool | None = arg(env)  # parse checked that every operand is boolean
                if value is None:
                    unknown = True
                elif value is decisive:
                    return decisive
            return None if unknown else not decisive

        return chain
    if op == "not":
        (inner,) = args
        return lambda env: None if (v := inner(env)) is None else not v
    if op in _COMPARE:
        compare = _COMPARE[op]
        left, right = args

        def comparison(env: Env) -> bool | None:
            a = left(env)
            if a is None:
                return None
            b = right(env)
            return None if b is None else compare(a, b)

        return comparison
    if op in _ARITHMETIC:
        apply = _ARITHMETIC[op]
        left, right = args

        def arithmetic(env: Env) -> Any:
            a = left(env)
            if a is None:
                return None
            b = right(env)
            return None if b is None else apply(a, b)

        return arithmetic
    if op == "neg":
        (inner,) = args
        return lambda env: None if (v := inner(env)) is None else -v
    if op in ("is_null", "is_not_null"):
        (inner,) = args
        want_null = op == "is_null"
        return lambda env: (inner(env) is None) is want_null
    if op in ("in", "not_in"):
        left, *items = args
        negated = op == "not_in"

        def membership(env: Env) -> bool | None:
            a = left(env)
            if a is None:
                return None
            unknown = False
            for item in items:
                b = item(env)
                if b is None:
                    unknown = True
                elif a == b:
                    return not negated
            return None if unknown else negated

        return membership
    if op in ("between", "not_between"):
        left, low, high = args
        negated = op == "not_between"

        def between(env: Env) -> bool | None:
            a = left(env)
            if a is None:
                return None
            lo, hi = low(env), high(env)
            above = None if lo is None else a >= lo
            below = None if hi is None else a <= hi
            if above is False or below is False:
                result: bool | None = False
            elif above is None or below is None:
                result = None
            else:
                result = True
            return result if result is None or not negated else not result

        return between
    raise InvalidParameter(f'unknown operator "{op}" in a stored condition',
                           hint="Re-save the rule so its condition is parsed again.")


def compile_condition(tree: Mapping[str, Any]) -> Compiled:
    """A function env -> True | False | None (NULL) for a tree made by `parse`."""
    if tree.get("version") != AST_VERSION:
        raise InvalidParameter(f"stored condition has version {tree.get('version')}, expected {AST_VERSION}",
                               hint="Re-save the rule so its condition is parsed again.")
    return _node(tree["expr"])


def evaluate(tree: Mapping[str, Any], env: Env) -> bool | None:
    result: bool | None = compile_condition(tree)(env)
    return result


# -- back to text -------------------------------------------------------

_SQL_OPS = {"and": "AND", "or": "OR"}


def to_sql(tree: Mapping[str, Any]) -> str:
    """The condition as normalised text, fully parenthesised; parse(to_sql(t)) gives t again."""
    return _to_sql(tree["expr"])


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _to_sql(node: Mapping[str, Any]) -> str:
    if "const" in node:
        value = node["const"]
        text = _literal(value)
        return f"({text})" if isinstance(value, int | float) and not isinstance(value, bool) and value < 0 else text
    if "input" in node:
        return str(node["input"])
    op, args = node["op"], [_to_sql(a) for a in node["args"]]
    if op in _SQL_OPS:
        return "(" + f" {_SQL_OPS[op]} ".join(args) + ")"
    if op == "not":
        return f"(NOT {args[0]})"
    if op == "neg":
        return f"(- {args[0]})"
    if op == "is_null":
        return f"({args[0]} IS NULL)"
    if op == "is_not_null":
        return f"({args[0]} IS NOT NULL)"
    if op in ("in", "not_in"):
        return f"({args[0]} {'NOT IN' if op == 'not_in' else 'IN'} ({', '.join(args[1:])}))"
    if op in ("between", "not_between"):
        word = "NOT BETWEEN" if op == "not_between" else "BETWEEN"
        return f"({args[0]} {word} {args[1]} AND {args[2]})"
    return f"({args[0]} {op} {args[1]})"
