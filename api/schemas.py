"""Every request and response shape of the API, declared once as JSON Schema (2020-12).

`api.spec` builds `/openapi.json` (OpenAPI 3.1, whose schemas are plain JSON
Schema) from these dicts and validates request bodies and query parameters
against them; the tests validate every response against the served spec.
Response objects are closed (`additionalProperties: false`) so a field added
in code but not here fails the tests: extend the shapes here, never rename.
"""

from __future__ import annotations

from qbr.periods import MONTH_PATTERN, QUARTER_PATTERN

NUM = {"type": ["number", "null"]}
STR = {"type": "string"}
STR_N = {"type": ["string", "null"]}
BOOL = {"type": "boolean"}
BOOL_N = {"type": ["boolean", "null"]}
TS = {"type": ["string", "null"], "format": "date-time"}
DATE = {"type": ["string", "null"], "format": "date"}
INT = {"type": "integer"}
MONTH = {"type": "string", "pattern": MONTH_PATTERN}
QUARTER = {"type": "string", "pattern": QUARTER_PATTERN}
STATUS = {"enum": ["green", "yellow", "red", None]}
DIRECTIONS = ["higher_is_better", "lower_is_better", "in_range"]
RUN_STATUSES = ["queued", "running", "succeeded", "partial", "failed"]


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, /, **properties) -> dict:
    """A closed object; every property listed is required unless `required` says otherwise."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
        "additionalProperties": False,
    }


def paged(item: str, key: str) -> dict:
    return obj(**{key: {"type": "array", "items": ref(item)}}, total=INT, limit=INT, offset=INT)


RUN_FIELDS = {
    "batch_id": STR,
    "status": {"enum": RUN_STATUSES},
    "trigger": STR,
    "requested_by": STR_N,
    "options": {"type": "object"},
    "progress": {"type": "number", "minimum": 0, "maximum": 100},
    "error": STR_N,
    "created_at": TS,
    "started_at": TS,
    "finished_at": TS,
    "duration_seconds": NUM,
    "status_url": STR,
}

#: What every metric value carries, monthly or quarterly (the fields the MSP's
#: existing dashboard code reads: name / value / source).
METRIC_IDENTITY = {
    "key": STR,
    "name": STR_N,
    "period": STR,
    "value": NUM,
    "unit": STR_N,
    "category": STR_N,
    "source": STR_N,
}

METRIC_VALUE = {
    **METRIC_IDENTITY,
    "data_source": {"enum": ["collected", "manual", None]},
    "collected_value": NUM,
    "manual_value": NUM,
    "status": STATUS,
    "is_complete": BOOL_N,
    "is_in_progress": BOOL_N,
    "coverage": {"description": "The mart's coverage value, passed through."},
    "updated_at": TS,
}

QUARTERLY_METRIC = {
    **METRIC_IDENTITY,
    "quarterly_rule": STR_N,
    "data_source": {
        "enum": ["collected", "manual", "mixed", None],
        "description": "manual/mixed when all/some of the months with a value were entered by hand",
    },
    "status": STATUS,
    "months_with_value": {"type": ["integer", "null"]},
    "is_complete": BOOL_N,
    "is_in_progress": BOOL_N,
    "monthly_values": {"type": "array", "items": ref("MonthlyPart")},
}

CLIENT = {
    "client_id": {"type": ["integer", "string"]},
    "client_name": STR_N,
    "identifier": STR_N,
    "ninja_organization": STR_N,
    "quickbooks_customer": STR_N,
    "match_status": STR_N,
    "is_internal": BOOL_N,
}

CLIENT_REF = obj(client_id=CLIENT["client_id"], client_name=STR_N)

THRESHOLD_BANDS = {"green_min": NUM, "green_max": NUM, "yellow_min": NUM, "yellow_max": NUM}
BOUND = {"type": ["number", "null"], "minimum": -1e15, "maximum": 1e15}
THRESHOLD_INPUT_BANDS = {k: BOUND for k in THRESHOLD_BANDS}

_metric_ref = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "description": "A metric key (reactive_tickets_closed) or its name (Reactive Tickets Closed).",
}
_notes = {"type": ["string", "null"], "maxLength": 2000}

COMPONENTS: dict[str, dict] = {
    "Error": {
        "type": "object",
        "required": ["error", "code", "error_code"],
        "properties": {
            "error": STR,
            "code": {"type": "integer", "minimum": 400, "maximum": 599},
            "error_code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
            "valid_keys": {"type": "array", "items": STR},
            "batch_id": STR,
            "metrics": {"type": "array", "items": STR},
            "param": STR,
        },
        "additionalProperties": True,
    },
    "SourceFreshness": obj(
        name=STR,
        status={"enum": ["ok", "degraded"]},
        last_good_load_at=TS,
        reason=STR_N,
        stale_after_hours={"type": "number"},
        source=STR,
        last_success_at=TS,
        last_attempt_at=TS,
        last_status=STR_N,
        age_hours=NUM,
        is_stale=BOOL,
    ),
    "RunSummary": obj(batch_id=STR, status={"enum": RUN_STATUSES}, started_at=TS, finished_at=TS),
    "LastRun": obj(
        batch_id=STR,
        status={"enum": RUN_STATUSES},
        started_at=TS,
        finished_at=TS,
        failed_steps={"type": "array", "items": STR},
    ),
    "Health": obj(
        status={"enum": ["ok", "degraded", "failing"]},
        reasons={"type": "array", "items": STR},
        database={"enum": ["ok"]},
        marts={"enum": ["ok", "missing", "unreadable"]},
        last_run={"anyOf": [ref("LastRun"), {"type": "null"}]},
        last_refresh={"anyOf": [ref("RunSummary"), {"type": "null"}]},
        last_successful_refresh={"anyOf": [ref("RunSummary"), {"type": "null"}]},
        refresh_running=BOOL,
        sources={"type": "array", "items": ref("SourceFreshness")},
        stale_after_hours={"type": "number"},
        checked_at=TS,
    ),
    "Period": obj(
        period=STR,
        period_type={"enum": ["monthly", "quarterly"]},
        start_date=DATE,
        end_date=DATE,
        starts_at=TS,
        ends_at=TS,
        is_complete=BOOL_N,
        is_in_progress=BOOL_N,
        months={"type": ["array", "null"], "items": STR},
        coverage=obj(connectwise=BOOL_N, quickbooks=BOOL_N, inventory=BOOL_N),
    ),
    "PeriodList": obj(
        type={"enum": ["monthly", "quarterly"]},
        latest_complete=STR_N,
        periods={"type": "array", "items": ref("Period")},
        total=INT,
        limit=INT,
        offset=INT,
    ),
    "MetricValue": obj(**METRIC_VALUE),
    "MonthBlock": obj(
        period=STR,
        is_complete=BOOL_N,
        is_in_progress=BOOL_N,
        metrics={"type": "array", "items": ref("MetricValue")},
    ),
    "MetricsMonthly": {
        "oneOf": [
            obj(
                ["period", "organization_id", "is_complete", "is_in_progress", "metrics"],
                period=STR,
                organization_id=INT,
                is_complete=BOOL_N,
                is_in_progress=BOOL_N,
                client=CLIENT_REF,
                metrics={"type": "array", "items": ref("MetricValue")},
            ),
            obj(
                ["from", "to", "organization_id", "periods"],
                **{"from": STR, "to": STR},
                organization_id=INT,
                client=CLIENT_REF,
                periods={"type": "array", "items": ref("MonthBlock")},
            ),
        ]
    },
    "MonthlyPart": obj(period=STR, value=NUM, data_source={"enum": ["collected", "manual", None]}),
    "QuarterlyMetric": obj(**QUARTERLY_METRIC),
    "QuarterBlock": obj(
        period=STR,
        is_complete=BOOL_N,
        is_in_progress=BOOL_N,
        months={"type": "array", "items": STR},
        metrics={"type": "array", "items": ref("QuarterlyMetric")},
    ),
    "MetricsQuarterly": {
        "oneOf": [
            obj(
                period=STR,
                organization_id=INT,
                is_complete=BOOL_N,
                is_in_progress=BOOL_N,
                months={"type": "array", "items": STR},
                metrics={"type": "array", "items": ref("QuarterlyMetric")},
            ),
            obj(
                **{"from": STR, "to": STR},
                organization_id=INT,
                periods={"type": "array", "items": ref("QuarterBlock")},
            ),
        ]
    },
    "ThresholdBand": obj(direction={"enum": DIRECTIONS}, **THRESHOLD_BANDS, origin=STR_N),
    "SmartNumber": obj(
        key=STR,
        name=STR_N,
        value=NUM,
        unit=STR_N,
        category=STR_N,
        status=STATUS,
        qoq_change=NUM,
        yoy_change=NUM,
        inputs={"type": ["object", "null"]},
        display_order={"type": ["integer", "null"]},
        is_complete=BOOL_N,
        is_provisional={
            "type": "boolean",
            "description": "The quarter is in progress: per-month figures divide by the "
            "months that have data, the value may still change, and status is null.",
        },
        threshold={"anyOf": [ref("ThresholdBand"), {"type": "null"}]},
    ),
    "SmartNumbers": obj(
        period=STR,
        organization_id=INT,
        months={"type": "array", "items": STR},
        is_complete=BOOL_N,
        is_in_progress=BOOL_N,
        smartnumbers={"type": "array", "items": ref("SmartNumber")},
    ),
    "Definition": obj(
        key=STR,
        name=STR_N,
        category=STR_N,
        unit=STR_N,
        source=STR_N,
        formula=STR_N,
        quarterly_rule=STR_N,
        direction={"enum": [*DIRECTIONS, None]},
        display_order={"type": ["integer", "null"]},
        is_smartnumber=BOOL_N,
        description=STR_N,
        docs_url=STR_N,
        collection={
            "enum": ["collected", "manual", "collected_or_manual", "derived", None],
            "description": "Where the value comes from (catalogue seed); collected_or_manual "
            "is METRICS.md's 'else manual'.",
        },
        manual_entry={
            "type": "boolean",
            "description": "POST /metrics/manual accepts this metric (a value a source "
            "collected is only overridden with force).",
        },
    ),
    "Definitions": paged("Definition", "definitions"),
    "Threshold": obj(
        metric=STR,
        name=STR_N,
        direction={"enum": DIRECTIONS},
        **THRESHOLD_BANDS,
        origin={"enum": ["default", "custom"]},
        notes=STR_N,
        updated_by=STR_N,
        updated_at=TS,
    ),
    "ThresholdList": paged("Threshold", "thresholds"),
    "ThresholdBandInput": {
        **obj(
            ["metric", "direction"],
            metric=_metric_ref,
            direction={"enum": DIRECTIONS},
            **THRESHOLD_INPUT_BANDS,
            notes=_notes,
        ),
        "description": "Bands as stored. higher_is_better: green from green_min up, yellow "
        "from yellow_min up; lower_is_better: green up to green_max, yellow up to "
        "yellow_max; in_range: green within [green_min, green_max], yellow within "
        "[yellow_min, yellow_max] (a null bound is open); everything else red.",
    },
    "ThresholdShortInput": {
        **obj(
            ["metric", "warning", "critical"],
            metric=_metric_ref,
            warning={"type": "number", "minimum": -1e15, "maximum": 1e15},
            critical={"type": "number", "minimum": -1e15, "maximum": 1e15},
            direction={"enum": ["higher_is_better", "lower_is_better"]},
            notes=_notes,
        ),
        "description": "warning is where green ends, critical where yellow ends. "
        "higher_is_better (warning >= critical): green >= warning, yellow >= critical, "
        "red below (stored as green_min=warning, yellow_min=critical). lower_is_better "
        "(warning <= critical): green <= warning, yellow <= critical, red above (stored "
        "as green_max=warning, yellow_max=critical). Direction: as given, else the "
        "metric's, else from the order of warning and critical.",
    },
    "ThresholdWrite": {"oneOf": [ref("ThresholdBandInput"), ref("ThresholdShortInput")]},
    "ThresholdSaved": obj(threshold=ref("Threshold"), created=BOOL),
    "ThresholdDeleted": obj(
        metric=STR,
        deleted=BOOL,
        threshold={"anyOf": [ref("Threshold"), {"type": "null"}]},
    ),
    "ManualMetricsRequest": obj(
        ["period", "metrics"],
        period=MONTH,
        metrics={
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": obj(
                ["metric", "value"],
                metric=_metric_ref,
                value={"type": "number", "minimum": -1e15, "maximum": 1e15},
                notes=_notes,
            ),
        },
        force={"type": "boolean", "default": False},
    ),
    "ManualSaved": obj(
        period=STR,
        organization_id=INT,
        saved={
            "type": "array",
            "items": obj(
                metric=STR,
                name=STR_N,
                value={"type": "number"},
                previous_value=NUM,
                collected_value=NUM,
                notes=STR_N,
                forced=BOOL,
                entry_id=INT,
            ),
        },
    ),
    "ManualReverted": obj(
        period=STR,
        organization_id=INT,
        reverted={"type": "array", "items": obj(metric=STR, value=NUM, collected_value=NUM)},
    ),
    "ManualEntry": obj(
        id=INT,
        period=STR,
        metric=STR,
        action={"enum": ["set", "revert"]},
        value=NUM,
        notes=STR_N,
        forced=BOOL,
        entered_by=STR,
        created_at=TS,
        is_current=BOOL,
    ),
    "ManualHistory": paged("ManualEntry", "entries"),
    "Client": obj(**CLIENT),
    "ClientList": paged("Client", "clients"),
    "Flag": obj(
        flag_id=STR,
        period=STR_N,
        metric_key=STR_N,
        flag=STR,
        severity={"enum": ["info", "warning", "error"]},
        subject=STR_N,
        message=STR,
        first_raised_at=TS,
        first_raised_batch=STR_N,
        acknowledged_at=TS,
        acknowledged_by=STR_N,
    ),
    "FlagList": paged("Flag", "flags"),
    "RefreshRequest": obj(
        [],
        sources={
            "type": "array",
            "uniqueItems": True,
            "maxItems": 20,
            "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 50},
        },
        since={"anyOf": [MONTH, {"type": "null"}]},
        full={"type": "boolean", "default": False},
    ),
    "RefreshAccepted": obj(batch_id=STR, status={"enum": ["queued"]}, status_url=STR),
    "RefreshRun": obj(**RUN_FIELDS),
    "RefreshStep": obj(
        name=STR,
        kind=STR,
        step_order=INT,
        status=STR,
        rows_loaded={"type": ["integer", "null"]},
        rows_rejected={"type": ["integer", "null"]},
        started_at=TS,
        finished_at=TS,
        duration_ms={"type": ["integer", "null"]},
        error=STR_N,
        details={"type": "object"},
    ),
    "RefreshRunDetail": obj(
        **RUN_FIELDS,
        anomaly_flags={"type": "array"},
        steps={"type": "array", "items": ref("RefreshStep")},
    ),
    "RefreshList": paged("RefreshRun", "runs"),
    "Session": obj(
        ["key_name", "scope", "via", "expires_at"],
        key_name=STR,
        scope={"enum": ["read", "admin"]},
        via={"enum": ["key", "session"]},
        expires_at=TS,
        csrf_token={"type": "string", "description": "Send as X-CSRF-Token on cookie writes."},
    ),
    "LoggedOut": obj(logged_out=BOOL),
    "OpenAPI": {"type": "object", "required": ["openapi", "paths"]},
}


def _metric_optional(name: str) -> dict:
    schema = dict(COMPONENTS[name])
    schema["required"] = [r for r in schema["required"] if r != "metric"]
    return schema


COMPONENTS["ThresholdBandPut"] = _metric_optional("ThresholdBandInput")
COMPONENTS["ThresholdShortPut"] = _metric_optional("ThresholdShortInput")
COMPONENTS["ThresholdPut"] = {
    "oneOf": [ref("ThresholdBandPut"), ref("ThresholdShortPut")],
    "description": "As ThresholdWrite; `metric` may be left out and must match the path if given.",
}


# --- parameters -------------------------------------------------------------


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
P_CLIENT = query(
    "client",
    {"type": "string", "minLength": 1, "maxLength": 100},
    "A client id: that client's metrics instead of the organization's.",
)
P_LIMIT = query(
    "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "Page size."
)
P_OFFSET = query(
    "offset",
    {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
    "Rows to skip.",
)
PAGING = [P_LIMIT, P_OFFSET]
