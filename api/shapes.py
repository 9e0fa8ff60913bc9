"""The building blocks every resource declares its shapes with (pydantic models).

Each view module in `api/views/` declares the request and response shapes of
its routes right beside the functions that build them, as subclasses of
`Shape` (closed: `additionalProperties: false`, so a field added in code but
not in the shape fails the tests). `api.spec` turns the models an operation
names into the OpenAPI document's components and validates request bodies
against the same JSON Schema. Only what several resources share lives here:
the field types, the error shape, paging and the threshold band.

Responses are still built as plain dicts (serialized with orjson): a model is
the declaration, not a per-row object, so large responses stay cheap.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from api.db import number
from qbr.periods import MONTH_PATTERN, QUARTER_PATTERN


class Shape(BaseModel):
    """A closed JSON object: every field listed, nothing else."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def one_of(name: str, *models: type[BaseModel], description: str | None = None) -> type:
    """A shape that is exactly one of `models` (JSON Schema `oneOf`)."""

    def extra(schema: dict) -> None:
        schema["oneOf"] = schema.pop("anyOf")
        if description:
            schema["description"] = description

    union = models[0]
    for model in models[1:]:
        union = union | model  # type: ignore[assignment]
    return type(
        name,
        (RootModel[union],),  # type: ignore[valid-type]
        {"model_config": ConfigDict(json_schema_extra=extra), "__module__": __name__},
    )


# --- field types ---------------------------------------------------------------------

Num = float | None
Str = str | None
Bool = bool | None
Int = int | None
Timestamp = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]
Date = Annotated[str | None, Field(json_schema_extra={"format": "date"})]
Status = Literal["green", "yellow", "red"] | None
Direction = Literal["higher_is_better", "lower_is_better", "in_range"]
RunStatus = Literal["queued", "running", "succeeded", "partial", "failed"]
RUN_STATUSES = ["queued", "running", "succeeded", "partial", "failed"]
Month = Annotated[str, Field(pattern=MONTH_PATTERN)]
Quarter = Annotated[str, Field(pattern=QUARTER_PATTERN)]
#: An input bound: finite and of a size numeric(…) columns hold.
Bound = Annotated[float | None, Field(ge=-1e15, le=1e15)]
Value = Annotated[float, Field(ge=-1e15, le=1e15)]
MetricRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="A metric key (reactive_tickets_closed) or its name (Reactive Tickets Closed).",
    ),
]
Notes = Annotated[str | None, Field(max_length=2000)]
JsonObject = dict[str, Any]


# --- shared shapes -------------------------------------------------------------------


class Error(BaseModel):
    """Every 4xx and 5xx answer; some add `valid_keys`, `metrics`, `batch_id` or `param`."""

    model_config = ConfigDict(extra="allow")

    error: str
    code: int = Field(ge=400, le=599)
    error_code: str = Field(pattern="^[A-Z][A-Z0-9_]*$")
    valid_keys: list[str] = Field(default=None)
    batch_id: str = Field(default=None)
    metrics: list[str] = Field(default=None)
    param: str = Field(default=None)


class OpenAPI(BaseModel):
    """This API's OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    paths: JsonObject


class ThresholdBand(Shape):
    """A metric's effective colour bands (bounds inclusive; a null bound is open)."""

    direction: Direction
    green_min: Num
    green_max: Num
    yellow_min: Num
    yellow_max: Num
    origin: Str


BANDS = ("green_min", "green_max", "yellow_min", "yellow_max")


def band_json(row: dict) -> dict | None:
    """The ThresholdBand of a row carrying direction, the four bounds and origin
    (None when the metric has no threshold)."""
    if row["direction"] is None:
        return None
    return {
        "direction": row["direction"],
        **{k: number(row[k]) for k in BANDS},
        "origin": row["origin"],
    }


# --- paging ----------------------------------------------------------------------------


def page_of(name: str, key: str, item: type[BaseModel], doc: str | None = None) -> type[Shape]:
    """A page shape: `{key: [item...], total, limit, offset}`."""
    model = create_model(
        name,
        __base__=Shape,
        __module__=item.__module__,
        __doc__=doc or f"A page of {item.__name__} ({key}), with the total count.",
        **{key: (list[item], ...)},  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )
    return model


class Page(NamedTuple):
    rows: list[dict]
    total: int
    #: a row of the query (the first), for other window aggregates; None when none match
    head: dict | None


def paged(conn, sql: str, params: dict, query: dict) -> Page:
    """A page of rows and the total: `sql` selects `count(*) over () as total` and ends in
    `limit %(limit)s offset %(offset)s`. Past the end, the total comes from the first row."""
    args = {**params, "limit": query["limit"], "offset": query["offset"]}
    rows = conn.execute(sql, args).fetchall()
    head = rows[0] if rows else None
    if head is None and query["offset"]:
        head = conn.execute(sql, {**args, "limit": 1, "offset": 0}).fetchone()
    return Page(rows, head["total"] if head else 0, head)


def page_json(key: str, items: list, total: int, query: dict) -> dict:
    return {key: items, "total": total, "limit": query["limit"], "offset": query["offset"]}


def without_total(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "total"}


# --- parameters (query string and path) --------------------------------------------------


def query(name: str, schema: dict, description: str, **extra) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def path(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


MONTH = {"type": "string", "pattern": MONTH_PATTERN}
QUARTER = {"type": "string", "pattern": QUARTER_PATTERN}
P_MONTH = query("period", MONTH, "A month, YYYY-MM (default: the latest complete month).")
P_FROM_MONTH = query("from", MONTH, "First month of a range (with `to`).")
P_TO_MONTH = query("to", MONTH, "Last month of a range (with `from`).")
P_QUARTER = query("period", QUARTER, "A quarter, YYYY-Qn (default: the latest complete quarter).")
P_FROM_QUARTER = query("from", QUARTER, "First quarter of a range (with `to`).")
P_TO_QUARTER = query("to", QUARTER, "Last quarter of a range (with `from`).")
P_METRIC = query(
    "metric",
    {"type": "string", "minLength": 1, "maxLength": 2000},
    "Only these metric keys (comma-separated).",
)
P_SOURCE = query(
    "source",
    {"type": "string", "minLength": 1, "maxLength": 100},
    "Only metrics from this source (ConnectWise, QuickBooks, NinjaOne, manual…), any case.",
)
P_LIMIT = query(
    "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "Page size."
)
P_OFFSET = query(
    "offset",
    {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
    "Rows to skip.",
)
PAGING = (P_LIMIT, P_OFFSET)
