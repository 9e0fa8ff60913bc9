"""Record validation and the quarantine table.

Each resource declares the fields it relies on (`Field`): their kind, whether
they are required, whether they must be non-negative. The declaration serves
twice:

- as dlt column hints, so every raw table has these columns with these types
  from the first load on (even while a column is still all null), and
- as the validation step: a record whose declared field has the wrong type,
  which lacks its id or cursor, or carries a negative amount is set aside
  into `<dataset>.rejected_records` (source, resource, record jsonb, reason,
  load_id, rejected_at, record_id) instead of reshaping the raw table or crashing
  the load. When the same id later loads cleanly, its rows get `resolved_at` /
  `resolved_load_id` (`resolve`, run after a successful load). Fields not declared are also checked against the column types the
  raw table already has (`known_types`), so a string arriving where the table
  holds numbers is rejected too.

What still slips through (a new, undeclared nested field of an odd type) is
caught by the schema contract: `data_type: discard_value` keeps the row and
drops only the offending value, so no variant column is ever created.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention

from dlt_pipelines.constants import DELETED_AT, REJECTED_TABLE

_NAMING = NamingConvention()

#: field kind -> dlt data type
DATA_TYPES = {
    "int": "bigint",
    "number": "double",
    "money": "decimal",
    "bool": "bool",
    "text": "text",
    "datetime": "timestamp",
    "date": "date",
    "json": "json",
    "id_text": "text",
}

#: tables must not change shape because of a bad record (see module docstring)
SCHEMA_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "discard_value"}

REJECTED_COLUMNS: dict[str, dict[str, Any]] = {
    "record_hash": {"data_type": "text", "nullable": False},
    "source": {"data_type": "text", "nullable": False},
    "resource": {"data_type": "text", "nullable": False},
    "record": {"data_type": "json", "nullable": True},
    "reason": {"data_type": "text", "nullable": False},
    "load_id": {"data_type": "text", "nullable": True},
    "rejected_at": {"data_type": "timestamp", "nullable": False},
    # the record's id as text (null when it had none): what a later clean load resolves
    "record_id": {"data_type": "text", "nullable": True},
    # set once the same id loads cleanly (`resolve`); null while still outstanding
    "resolved_at": {"data_type": "timestamp", "nullable": True},
    "resolved_load_id": {"data_type": "text", "nullable": True},
}


@dataclass(frozen=True)
class Field:
    """A field of an API record (dotted path as the API names it)."""

    path: str
    kind: str
    required: bool = False
    non_negative: bool = False

    @cached_property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    @cached_property
    def column(self) -> str:
        """The raw table's column name (dlt's snake_case, nested parts joined by `__`)."""
        return "__".join(_NAMING.normalize_identifier(p) for p in self.parts)


@dataclass(frozen=True)
class Rules:
    """How to validate the records of one resource."""

    fields: tuple[Field, ...]
    id_path: str = "id"
    extra_columns: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def columns(self, deleted_column: bool = True) -> dict[str, dict[str, Any]]:
        """dlt column hints for the declared fields (plus `_deleted_at`)."""
        hints: dict[str, dict[str, Any]] = {}
        for f in self.fields:
            if f.kind in DATA_TYPES:  # a "list" becomes a child table: no column
                hints[f.column] = {"data_type": DATA_TYPES[f.kind], "nullable": not f.required}
        if deleted_column:
            hints[DELETED_AT] = {"data_type": "timestamp", "nullable": True}
        hints.update({k: dict(v) for k, v in self.extra_columns.items()})
        return hints

    @cached_property
    def id_parts(self) -> tuple[str, ...]:
        return tuple(self.id_path.split("."))

    @cached_property
    def plan(self) -> tuple[tuple[str, str | None, Field, Callable[[Any], bool]], ...]:
        """Per field: its first path part, its second (or None), the field, and
        the `kind_ok` of its kind as one function."""
        return tuple(
            (f.parts[0], f.parts[1] if len(f.parts) > 1 else None, f, _fits(f.kind))
            for f in self.fields
        )

    @cached_property
    def declared(self) -> frozenset[str]:
        """The declared fields' column names."""
        return frozenset(f.column for f in self.fields)


def get_path(record: Any, parts: Iterable[str]) -> tuple[bool, Any]:
    """(present, value) following dict keys."""
    current = record
    for part in parts:
        if current.__class__ is not dict and not isinstance(current, dict):
            return False, None
        if part not in current:
            return False, None
        current = current[part]
    return True, current


def parse_datetime(value: Any) -> datetime | None:
    """ISO-8601 with `Z`, an offset or none (then UTC); None when not a date-time."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return True
    if isinstance(value, str):
        try:
            Decimal(value)
        except InvalidOperation:
            return False
        return True
    return False


def _fits(kind: str) -> Callable[[Any], bool]:
    """`kind_ok(kind, ·)`, with the common types answered first."""
    if kind in ("text", "id_text"):
        return lambda v: v.__class__ is str or kind_ok(kind, v)
    if kind in ("int", "bigint"):
        return lambda v: v.__class__ is int or kind_ok(kind, v)
    if kind in ("number", "money", "double", "decimal"):
        return lambda v: v.__class__ is float or v.__class__ is int or kind_ok(kind, v)
    if kind == "bool":
        return lambda v: v.__class__ is bool
    return lambda v: kind_ok(kind, v)


def kind_ok(kind: str, value: Any) -> bool:
    """Does `value` (not None) fit a column of this kind without a variant column?"""
    if kind in ("int", "bigint"):
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind in ("number", "money", "double", "decimal"):
        return _is_number(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("text", "id_text"):
        return isinstance(value, str | int) and not isinstance(value, bool)
    if kind in ("datetime", "timestamp"):
        return parse_datetime(value) is not None
    if kind == "date":
        if isinstance(value, date):
            return True
        try:
            date.fromisoformat(str(value)[:10])
        except ValueError:
            return False
        return True
    if kind == "list":
        return isinstance(value, list)
    return True  # json, unknown kinds


def _negative(value: Any) -> bool:
    """A number below zero (`value` passed `_is_number`)."""
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value < 0  # what Decimal(str(value)) < 0 says, without the Decimal
    return Decimal(str(value)) < 0


@lru_cache(maxsize=4096)
def _column_name(key: str) -> str:
    return _NAMING.normalize_identifier(key)


def validate(record: Any, rules: Rules, known_types: Mapping[str, str] | None = None) -> str | None:
    """The reason a record must be set aside, or None when it may be loaded."""
    if not isinstance(record, dict):
        return f"record is a {type(record).__name__}, not an object"
    present, rid = get_path(record, rules.id_parts)
    if not present or rid is None or rid == "":
        return f"missing {rules.id_path}"
    for first, second, f, fits in rules.plan:
        # get_path for one- and two-part paths, inline (37 fields x every record)
        value = record.get(first)
        if second is not None:
            if f.parts[2:]:
                value = get_path(record, f.parts)[1]
            else:
                value = value.get(second) if isinstance(value, dict) else None
        if value is None:
            if f.required:
                return f"missing {f.path}"
            continue
        if not fits(value):
            return f"{f.path} is not {_article(f.kind)}: {_short(value)}"
        if f.non_negative and _is_number(value) and _negative(value):
            return f"{f.path} is negative: {value}"
    if known_types:
        declared = rules.declared
        for key, value in record.items():
            if value is None or isinstance(value, dict | list):
                continue
            column = _column_name(key)
            kind = known_types.get(column)
            if kind == "bigint":  # inferred from whole numbers: a fraction is no malformation
                kind = "double"
            if kind and column not in declared and not kind_ok(kind, value):
                return f"{key} is not {_article(kind)} like the existing column: {_short(value)}"
    return None


def _article(kind: str) -> str:
    word = {"int": "an integer", "bigint": "an integer", "datetime": "a date-time"}.get(kind)
    return word or ("an " if kind[0] in "aeiou" else "a ") + kind.replace("_", " ")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _id_text(record: Any, id_path: str = "id") -> str | None:
    present, rid = get_path(record, id_path.split("."))
    if not present or rid is None or rid == "" or isinstance(rid, dict | list | bool):
        return None
    return str(rid)


def rejected_row(
    source: str, resource: str, record: Any, reason: str, id_path: str = "id"
) -> dict[str, Any]:
    """A row of `rejected_records`; `record_hash` makes re-reading the same bad
    record idempotent (and, being a new row, outstanding again)."""
    body = _jsonable(record)
    digest = hashlib.sha256(
        json.dumps([source, resource, body, reason], sort_keys=True).encode()
    ).hexdigest()[:32]
    return {
        "record_hash": digest,
        "source": source,
        "resource": resource,
        "record": body,
        "reason": reason,
        "load_id": None,  # set by the runner: the load the record was read in
        "rejected_at": datetime.now(UTC),
        "record_id": _id_text(record, id_path),
        "resolved_at": None,
        "resolved_load_id": None,
    }


class Quarantine:
    """Rejected rows collected while the resources extract (thread-safe).

    They are loaded by their own resource (`rejected_resource`) in a second
    extract of the same run: a table variant of the data resource would
    inherit its columns and primary key.
    """

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._clean: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def loaded(self, source: str, resource: str, ids: Iterable[str]) -> None:
        """Ids of records that passed validation (they resolve earlier rejections)."""
        with self._lock:
            self._clean.setdefault((source, resource), set()).update(ids)

    @property
    def clean_ids(self) -> dict[tuple[str, str], set[str]]:
        with self._lock:
            return {k: set(v) for k, v in self._clean.items()}

    def stamp(self, load_id: str | None) -> None:
        with self._lock:
            for row in self._rows.values():
                row["load_id"] = load_id

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._rows[row["record_hash"]] = row

    @property
    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)


def rejected_resource(rows: list[dict[str, Any]]) -> Any:
    """The `rejected_records` table: merged on `record_hash`, so reading the same
    bad record again does not add a row."""

    @dlt.resource(
        name=REJECTED_TABLE,
        write_disposition="merge",
        primary_key="record_hash",
        columns=REJECTED_COLUMNS,
        max_table_nesting=0,
    )
    def rejected_records() -> Iterator[list[dict[str, Any]]]:
        yield rows

    return rejected_records


def split(
    records: Iterable[Any],
    rules: Rules,
    source: str,
    resource: str,
    quarantine: Quarantine,
    known_types: Mapping[str, str] | None = None,
) -> list[dict]:
    """The valid records; the others go to `quarantine`."""
    good: list[dict] = []
    bad: list[dict] = []
    for record in records:
        reason = validate(record, rules, known_types)
        if reason is None:
            good.append(record)
        else:
            bad.append(rejected_row(source, resource, record, reason, rules.id_path))
    if bad:
        quarantine.add(bad)
    if good:
        ids = (_id_text(r, rules.id_path) for r in good)
        quarantine.loaded(source, resource, (i for i in ids if i is not None))
    return good


RESOLVE_SQL = """
update {table} set resolved_at = now(), resolved_load_id = %s
where resolved_at is null and source = %s and resource = %s
    and coalesce(record_id, record ->> 'id') = any(%s)
"""


def resolve(url: str, dataset: str, quarantine: Quarantine, load_id: str | None) -> int:
    """Mark set-aside records resolved whose id has now loaded cleanly (after the load
    succeeded); returns how many. A table from before these columns existed gets them
    from dlt with its next rejected record; until then nothing is marked."""
    import psycopg

    clean = quarantine.clean_ids
    if not clean:
        return 0
    table = f'"{dataset}"."{REJECTED_TABLE}"'
    with psycopg.connect(url, autocommit=True) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = %s and table_name = %s",
                (dataset, REJECTED_TABLE),
            )
        }
        if not {"resolved_at", "resolved_load_id", "record_id"} <= columns:
            return 0
        resolved = 0
        with conn.transaction():
            for (source, resource), ids in clean.items():
                cur = conn.execute(
                    RESOLVE_SQL.format(table=table), (load_id, source, resource, sorted(ids))
                )
                resolved += cur.rowcount or 0
        return resolved
