"""The ConnectWise `conditions` grammar, compiled to a predicate over a record.

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "(" expr ")" | comparison
    comparison := field op value
                | field ["not"] ("contains" | "like") string
                | field ["not"] "in" "(" value ("," value)* ")"
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="
    value      := "string" | [datetime] | number | null | true | false

Fields are paths with `/` (`board/name`). `lastUpdated`, `dateEntered`,
`enteredBy` and `updatedBy` fall back to `_info/...` when the record has no
top-level field of that name. Keywords are case-insensitive; string comparison
is case-insensitive (the real API sits on SQL Server's default collation);
a comparison with a null field is false, as in SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.servers.common import MISSING, get_path, parse_datetime

INFO_ALIASES = ("lastUpdated", "dateEntered", "enteredBy", "updatedBy")
Predicate = Callable[[dict], bool]


class ConditionsError(ValueError):
    """A malformed conditions string; the message names the problem."""


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, datetime, number, op, lparen, rparen, comma, end
    value: Any
    pos: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.|"")*")
  | (?P<datetime>\[[^\]]*\])
  | (?P<number>-?\d+(?:\.\d+)?(?![\w/]))
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<ident>[A-Za-z_][\w/.]*)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            snippet = text[pos : pos + 20]
            if text[pos] == '"':
                raise ConditionsError(f"unterminated string starting at position {pos}")
            if text[pos] == "[":
                raise ConditionsError(f"unterminated datetime starting at position {pos}")
            raise ConditionsError(f"unexpected character at position {pos}: {snippet!r}")
        kind = match.lastgroup
        raw = match.group()
        if kind == "string":
            value: Any = raw[1:-1].replace('""', '"')
            value = re.sub(r"\\(.)", r"\1", value)
        elif kind == "datetime":
            inner = raw[1:-1].strip()
            value = parse_datetime(inner)
            if value is None:
                raise ConditionsError(f"invalid datetime {raw} at position {pos}")
        elif kind == "number":
            value = float(raw) if "." in raw else int(raw)
        elif kind == "op":
            value = "!=" if raw == "<>" else raw
        else:
            value = raw
        if kind != "ws":
            tokens.append(Token(kind, value, pos))
        pos = match.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, known_fields: set[str] | None) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.known_fields = known_fields

    # token helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "ident" and token.value.lower() in words

    def describe(self, token: Token) -> str:
        if token.kind == "end":
            return "end of conditions"
        return f"{token.value!r} at position {token.pos}"

    # grammar
    def parse(self) -> Predicate:
        if self.peek().kind == "end":
            raise ConditionsError("conditions is empty")
        predicate = self.expr()
        if self.peek().kind != "end":
            raise ConditionsError(f"unexpected {self.describe(self.peek())}")
        return predicate

    def expr(self) -> Predicate:
        return self.joined("or", self.term, any)

    def term(self) -> Predicate:
        return self.joined("and", self.factor, all)

    def joined(
        self, word: str, operand: Callable[[], Predicate], combine: Callable[[Any], bool]
    ) -> Predicate:
        """`operand (word operand)*`: one operand as is, more combined (any / all).
        An `and` keeps its parts (`conjuncts`) for `index_ranges`."""
        parts = [operand()]
        while self.keyword(word):
            self.next()
            parts.append(operand())
        if len(parts) == 1:
            return parts[0]

        def combined(record: dict) -> bool:
            return combine(p(record) for p in parts)

        if word == "and":
            combined.conjuncts = parts  # type: ignore[attr-defined]
        return combined

    def factor(self) -> Predicate:
        token = self.peek()
        if token.kind == "lparen":
            self.next()
            inner = self.expr()
            if self.peek().kind != "rparen":
                raise ConditionsError(f"expected ')' but found {self.describe(self.peek())}")
            self.next()
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        token = self.next()
        if token.kind != "ident" or token.value.lower() in {"and", "or", "not"}:
            raise ConditionsError(f"expected a field name but found {self.describe(token)}")
        path = self.field(token)
        negate = False
        if self.keyword("not"):
            self.next()
            negate = True
            if not self.keyword("in", "like", "contains"):
                raise ConditionsError(
                    f"expected 'in', 'like' or 'contains' after 'not' but found "
                    f"{self.describe(self.peek())}"
                )
        op_token = self.next()
        if op_token.kind == "op":
            value = self.value()
            return _compare(path, op_token.value, value)
        if op_token.kind == "ident" and op_token.value.lower() in {"contains", "like"}:
            word = op_token.value.lower()
            value = self.value()
            if not isinstance(value, str):
                raise ConditionsError(f"'{word}' needs a quoted string after {token.value}")
            predicate = _contains(path, value) if word == "contains" else _like(path, value)
            return (lambda r: not predicate(r)) if negate else predicate
        if op_token.kind == "ident" and op_token.value.lower() == "in":
            values = self.value_list()
            predicate = _in(path, values)
            return (lambda r: not predicate(r)) if negate else predicate
        raise ConditionsError(
            f"expected an operator after {token.value} but found {self.describe(op_token)}"
        )

    def field(self, token: Token) -> tuple[str, ...]:
        name = token.value
        parts = tuple(p for p in name.replace(".", "/").split("/"))
        if any(not p for p in parts):
            raise ConditionsError(f"invalid field name {name!r}")
        if self.known_fields is not None:
            top = parts[0]
            if top not in self.known_fields and not (
                top in INFO_ALIASES and "_info" in self.known_fields
            ):
                raise ConditionsError(f"unknown field {name!r}")
        return parts

    def value(self) -> Any:
        token = self.next()
        if token.kind in {"string", "datetime", "number"}:
            return token.value
        if token.kind == "ident":
            word = token.value.lower()
            if word == "null":
                return None
            if word in {"true", "false"}:
                return word == "true"
            raise ConditionsError(
                f"expected a value but found {self.describe(token)} "
                "(strings need double quotes, datetimes brackets)"
            )
        raise ConditionsError(f"expected a value but found {self.describe(token)}")

    def value_list(self) -> list[Any]:
        if self.peek().kind != "lparen":
            raise ConditionsError(f"expected '(' after 'in' but found {self.describe(self.peek())}")
        self.next()
        values = [self.value()]
        while self.peek().kind == "comma":
            self.next()
            values.append(self.value())
        if self.peek().kind != "rparen":
            raise ConditionsError(
                f"expected ',' or ')' in list but found {self.describe(self.peek())}"
            )
        self.next()
        return values


def resolve(record: dict, path: tuple[str, ...]) -> Any:
    """The value at a conditions path; None for a missing value."""
    value = get_path(record, path)
    if value is MISSING and path[0] in INFO_ALIASES:
        value = get_path(record, ("_info", *path))
    return None if value is MISSING else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _coerce(actual: Any, literal: Any) -> tuple[Any, Any] | None:
    """Both sides in one comparable type, or None when they cannot be compared."""
    if isinstance(literal, dt.datetime):
        parsed = parse_datetime(actual)
        return (parsed, literal) if parsed is not None else None
    if isinstance(literal, bool):
        return (actual, literal) if isinstance(actual, bool) else None
    if _is_number(literal):
        if _is_number(actual):
            return actual, literal
        if isinstance(actual, str):
            try:
                return float(actual), literal
            except ValueError:
                return None
        return None
    if isinstance(literal, str):
        if isinstance(actual, dict | list):
            return None
        return str(actual).lower(), literal.lower()
    return None


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(path: tuple[str, ...], op: str, literal: Any) -> Predicate:
    if literal is None:
        if op == "=":
            return lambda r: resolve(r, path) is None
        if op == "!=":
            return lambda r: resolve(r, path) is not None
        raise ConditionsError(f"null can only be compared with = or != ({'/'.join(path)})")
    if isinstance(literal, bool) and op not in {"=", "!="}:
        raise ConditionsError(f"true/false can only be compared with = or != ({'/'.join(path)})")
    fn = _OPS[op]

    def predicate(record: dict) -> bool:
        actual = resolve(record, path)
        if actual is None:
            return False
        pair = _coerce(actual, literal)
        return pair is not None and fn(*pair)

    predicate.comparison = (path, op, literal)  # type: ignore[attr-defined]
    return predicate


def _contains(path: tuple[str, ...], needle: str) -> Predicate:
    needle = needle.lower()

    def predicate(record: dict) -> bool:
        actual = resolve(record, path)
        return (
            actual is not None
            and not isinstance(actual, dict | list)
            and (needle in str(actual).lower())
        )

    return predicate


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (`%`, `_`; `*` also accepted as a wildcard) as a case-insensitive regex."""
    out = []
    for char in pattern:
        if char in "%*":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _like(path: tuple[str, ...], pattern: str) -> Predicate:
    regex = like_regex(pattern)

    def predicate(record: dict) -> bool:
        actual = resolve(record, path)
        return (
            actual is not None
            and not isinstance(actual, dict | list)
            and regex.fullmatch(str(actual)) is not None
        )

    return predicate


def _in(path: tuple[str, ...], values: list[Any]) -> Predicate:
    checks = [_compare(path, "=", v) for v in values]
    return lambda record: any(check(record) for check in checks)


# --- what an index can answer --------------------------------------------------

#: the fields a sorted index answers (sandbox/servers/record_index.py)
INDEXED_ID = "id"
INDEXED_UPDATED = "lastUpdated"


@dataclass(frozen=True)
class Range:
    """Bounds on one field; None = open on that side."""

    low: Any = None
    low_strict: bool = False
    high: Any = None
    high_strict: bool = False

    def narrowed(self, op: str, value: Any) -> Range:
        """This range and `field op value` (`=`, `<`, `<=`, `>`, `>=`) together."""
        low, low_strict, high, high_strict = self.low, self.low_strict, self.high, self.high_strict
        if op in {">", ">=", "="}:
            strict = op == ">"
            if low is None or value > low or (value == low and strict):
                low, low_strict = value, strict
        if op in {"<", "<=", "="}:
            strict = op == "<"
            if high is None or value < high or (value == high and strict):
                high, high_strict = value, strict
        return Range(low, low_strict, high, high_strict)


def _conjuncts(predicate: Predicate) -> list[Predicate]:
    parts = getattr(predicate, "conjuncts", None)
    if parts is None:
        return [predicate]
    return [leaf for part in parts for leaf in _conjuncts(part)]


def _index_bound(predicate: Predicate) -> tuple[str, str, Any] | None:
    """(field, op, value) when this comparison is one an index answers exactly:
    `id` against a number, `lastUpdated` against a [datetime]."""
    comparison = getattr(predicate, "comparison", None)
    if comparison is None:
        return None
    path, op, literal = comparison
    if op not in {"=", "<", "<=", ">", ">="}:
        return None
    if path == (INDEXED_ID,) and _is_number(literal):
        return INDEXED_ID, op, literal
    if path == (INDEXED_UPDATED,) and isinstance(literal, dt.datetime):
        return INDEXED_UPDATED, op, literal
    return None


def index_ranges(predicate: Predicate) -> tuple[dict[str, Range], bool]:
    """The ranges the conditions' top-level `and` puts on `id` and `lastUpdated`,
    and whether anything else is left to check (then the predicate decides on
    the records in range). Empty ranges when the conditions bound neither (an
    `or` at the top, say)."""
    ranges: dict[str, Range] = {}
    residual = False
    for part in _conjuncts(predicate):
        bound = _index_bound(part)
        if bound is None:
            residual = True
            continue
        field, op, value = bound
        ranges[field] = ranges.get(field, Range()).narrowed(op, value)
    return ranges, residual


def compile_conditions(text: str, known_fields: Iterable[str] | None = None) -> Predicate:
    """Parse `text`; with `known_fields`, a field whose first segment is not among
    them is an error (as the real API rejects unknown columns)."""
    fields = set(known_fields) if known_fields is not None else None
    return _Parser(text, fields).parse()
