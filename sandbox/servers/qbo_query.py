"""The QuickBooks Online query language subset.

    SELECT * | SELECT COUNT(*) | SELECT f1, f2 FROM Entity
      [WHERE cond (AND cond)*]
      [ORDERBY field [ASC|DESC] (, field [ASC|DESC])*]
      [STARTPOSITION n] [MAXRESULTS m]
    cond := field (= | < | > | <= | >=) value | field IN (value, ...) | field LIKE 'pat%'
    value := 'string' (\\' escapes a quote) | number | true | false

Keywords are case-insensitive, entity names are not. There is no OR (the real
service has none). STARTPOSITION is 1-based; MAXRESULTS defaults to 100 and is
capped at 1000.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.servers.common import MISSING, get_path, parse_datetime
from sandbox.servers.conditions import like_regex

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000


class QueryError(ValueError):
    """A query the service would refuse; `message` is the Fault's Detail."""


@dataclass
class Condition:
    field: str
    op: str
    value: Any


@dataclass
class Query:
    entity: str
    count: bool = False
    columns: list[str] | None = None  # None = *
    where: list[Condition] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<star>\*)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<ident>[A-Za-z_][\w.]*)
    """,
    re.VERBOSE,
)
KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "orderby",
    "order",
    "by",
    "asc",
    "desc",
    "startposition",
    "maxresults",
    "in",
    "like",
    "count",
    "true",
    "false",
}


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise QueryError(
                f'QueryParserError: Encountered " "{text[pos]}" " at line 1, column {pos + 1}.'
            )
        kind, raw = match.lastgroup, match.group()
        if kind == "string":
            out.append(("string", re.sub(r"\\(.)", r"\1", raw[1:-1]), pos))
        elif kind == "number":
            out.append(("number", float(raw) if "." in raw else int(raw), pos))
        elif kind == "ident" and raw.lower() in KEYWORDS:
            out.append(("kw", raw.lower(), pos))
        elif kind != "ws":
            out.append((kind, raw, pos))
        pos = match.end()
    out.append(("end", None, len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def next(self) -> tuple[str, Any, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: tuple[str, Any, int], expecting: str) -> QueryError:
        kind, value, pos = tok
        shown = "<EOF>" if kind == "end" else str(value)
        return QueryError(
            f'QueryParserError: Encountered " "{shown}" " at line 1, column {pos + 1}. '
            f"Was expecting: {expecting}"
        )

    def expect_kw(self, word: str) -> None:
        tok = self.next()
        if tok[0] != "kw" or tok[1] != word:
            raise self.fail(tok, word.upper())

    def is_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok[0] == "kw" and tok[1] in words

    def parse(self) -> Query:
        self.expect_kw("select")
        count = False
        columns: list[str] | None = None
        if self.peek()[0] == "star":
            self.next()
        elif self.is_kw("count"):
            self.next()
            for kind in ("lparen", "star", "rparen"):
                tok = self.next()
                if tok[0] != kind:
                    raise self.fail(tok, "COUNT(*)")
            count = True
        else:
            columns = [self.ident("a column name or *")]
            while self.peek()[0] == "comma":
                self.next()
                columns.append(self.ident("a column name"))
        self.expect_kw("from")
        query = Query(entity=self.ident("an entity name"), count=count, columns=columns)
        if self.is_kw("where"):
            self.next()
            query.where.append(self.condition())
            while self.is_kw("and", "or"):
                if self.peek()[1] == "or":
                    raise QueryError("QueryParserError: OR is not supported; use AND or IN")
                self.next()
                query.where.append(self.condition())
        if self.is_kw("orderby", "order"):
            if self.next()[1] == "order":
                self.expect_kw("by")
            query.order_by.append(self.order_item())
            while self.peek()[0] == "comma":
                self.next()
                query.order_by.append(self.order_item())
        seen: set[str] = set()
        while self.is_kw("startposition", "maxresults"):
            word = self.next()[1]
            if word in seen:
                raise QueryError(f"QueryParserError: {word.upper()} given twice")
            seen.add(word)
            tok = self.next()
            if tok[0] != "number" or not isinstance(tok[1], int) or tok[1] < 0:
                raise self.fail(tok, "<INTEGER>")
            if word == "startposition":
                query.start_position = max(1, tok[1])
            else:
                query.max_results = min(tok[1], MAX_RESULTS_LIMIT)
        if self.peek()[0] != "end":
            raise self.fail(self.peek(), "<EOF>")
        return query

    def ident(self, expecting: str) -> str:
        tok = self.next()
        if tok[0] != "ident":
            raise self.fail(tok, expecting)
        return tok[1]

    def order_item(self) -> tuple[str, bool]:
        name = self.ident("a column name")
        descending = False
        if self.is_kw("asc", "desc"):
            descending = self.next()[1] == "desc"
        return name, descending

    def value(self) -> Any:
        tok = self.next()
        if tok[0] in {"string", "number"}:
            return tok[1]
        if tok[0] == "kw" and tok[1] in {"true", "false"}:
            return tok[1] == "true"
        raise self.fail(tok, "<STRING>")

    def condition(self) -> Condition:
        name = self.ident("a column name")
        tok = self.next()
        if tok[0] == "op":
            if tok[1] in {"!=", "<>"}:
                raise QueryError(f"QueryParserError: operator {tok[1]} is not supported")
            return Condition(name, tok[1], self.value())
        if tok[0] == "kw" and tok[1] == "like":
            value = self.value()
            if not isinstance(value, str):
                raise QueryError("QueryParserError: LIKE needs a quoted string")
            return Condition(name, "like", value)
        if tok[0] == "kw" and tok[1] == "in":
            if self.next()[0] != "lparen":
                raise self.fail(self.toks[self.i - 1], "(")
            values = [self.value()]
            while self.peek()[0] == "comma":
                self.next()
                values.append(self.value())
            if self.next()[0] != "rparen":
                raise self.fail(self.toks[self.i - 1], ")")
            return Condition(name, "in", values)
        raise self.fail(tok, "an operator (=, <, >, <=, >=, IN, LIKE)")


def parse_query(text: str) -> Query:
    if not text or not text.strip():
        raise QueryError("QueryParserError: empty query")
    return _Parser(text.strip().rstrip(";")).parse()


# --- evaluation ---------------------------------------------------------------


def field_value(record: dict, name: str) -> Any:
    """A dotted field; a reference (`CustomerRef`) compares by its `value`."""
    value = get_path(record, name.split("."))
    if value is MISSING:
        return None
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _pair(actual: Any, literal: Any) -> tuple[Any, Any] | None:
    if actual is None or isinstance(actual, list | dict):
        return None
    if isinstance(literal, bool) or isinstance(actual, bool):
        if isinstance(actual, str):
            actual = actual.lower() == "true"
        if isinstance(literal, str):
            literal = literal.lower() == "true"
        return (actual, literal) if isinstance(literal, bool) else None
    if isinstance(literal, str) and isinstance(actual, str) and ("T" in actual or "T" in literal):
        # date-times compare as instants (offsets honoured); a bare date is midnight UTC
        a, b = parse_datetime(actual), parse_datetime(literal)
        if a is not None and b is not None:
            return a, b
    number_actual = isinstance(actual, int | float)
    try:
        if number_actual or isinstance(literal, int | float):
            return float(actual), float(literal)
    except (TypeError, ValueError):
        pass
    return str(actual).lower(), str(literal).lower()


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def matches(record: dict, cond: Condition) -> bool:
    actual = field_value(record, cond.field)
    if cond.op == "in":
        return any(matches(record, Condition(cond.field, "=", v)) for v in cond.value)
    if cond.op == "like":
        return actual is not None and like_regex(cond.value).fullmatch(str(actual)) is not None
    pair = _pair(actual, cond.value)
    return pair is not None and _CMP[cond.op](*pair)


def sort_key(value: Any) -> tuple:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, float(value))
    if isinstance(value, str):
        parsed = parse_datetime(value) if "T" in value else None
        if parsed is not None:
            return (2, parsed.timestamp())
        try:
            return (1, float(value))
        except ValueError:
            return (3, value.lower())
    return (4, str(value))


def run(query: Query, records: list[dict]) -> list[dict]:
    """Filter and order (without paging)."""
    rows = [r for r in records if all(matches(r, c) for c in query.where)]
    rows.sort(key=lambda r: sort_key(field_value(r, "Id")))
    for name, descending in reversed(query.order_by):
        rows.sort(key=lambda r, n=name: sort_key(field_value(r, n)), reverse=descending)
    return rows
