"""Hand-made `qbr` marts with exactly the columns of docs/contracts.md §4, for API tests.

The real marts are built by dbt; these stand in for them so every endpoint
can be tested with values computed by hand. Like the real ones,
`metrics_monthly`, `metrics_quarterly`, `smartnumbers` and
`thresholds_effective` are views over small tables in `qbr` and over
`qbr_app` (manual entries and thresholds show on the next read). Helper
tables the API never reads are prefixed `fx_`.

The hand-computed figures (see EXPECTED below):
- 2025-Q1: created 100+120+80 = 300, closed 90+130+85 = 305, reactive hours
  45+60+39 = 144, endpoints avg(200, 210, 190) = 200, technical employees
  (manual) avg(4, 4, 5) = 13/3.
  rhem = 144 / 200 / 3 = 0.24; total_close_pct = 305/300; tickets per tech per
  month = 305 / (13/3) / 3 = 305/13.
- 2024-Q4: 300 created, 300 closed, 150 h, endpoints avg(180, 190, 200) = 190
  -> rhem 150/190/3 = 0.263157..., close 1.0.
- 2024-Q1: 240 created, 210 closed, 108 h, endpoints 120 -> rhem 0.3, close 0.875.
  QoQ rhem = 0.24 - 0.263157... ; YoY rhem = 0.24 - 0.3 = -0.06.
"""

from __future__ import annotations

from psycopg.types.json import Jsonb

from qbr import db, roles
from qbr.settings import Settings

ORG = 1

# metric_key, metric_name, category, unit, source, quarterly_rule, direction, order, smartnumber
DEFINITIONS = [
    ("reactive_tickets_created", "# of Reactive Tickets Created", "Operations", "count", "ConnectWise", "sum", None, 10, False),
    ("reactive_tickets_closed", "# of Reactive Tickets Closed", "Operations", "count", "ConnectWise", "sum", None, 20, False),
    ("reactive_time_spent", "Reactive Time Spent", "Operations", "hours", "ConnectWise", "sum", None, 30, False),
    ("endpoints_managed", "# of Endpoints Managed", "Operations", "count", "NinjaOne", "avg", None, 40, False),
    ("mrr", "MRR", "Revenue", "dollars", "QuickBooks", "sum", None, 100, False),
    ("total_revenue", "Total Revenue", "Revenue", "dollars", "QuickBooks", "sum", None, 110, False),
    ("employees", "# of Employees", "General", "count", "manual", "avg", None, 200, False),
    ("technical_employees", "# of Technical Employees", "General", "count", "manual", "avg", None, 210, False),
    ("cash_reserve", "Cash Reserve", "Cash", "dollars", "manual", "last", None, 300, False),
    ("tickets_per_tech_per_month", "Tickets / Tech / Month", "Operations", "count", "computed", "ratio", "in_range", 1001, True),
    ("total_close_pct", "Total Close %", "Operations", "ratio", "computed", "ratio", "in_range", 1002, True),
    ("rhem", "RHEM (Reactive Hours / Endpoint / Month)", "Operations", "hours", "computed", "ratio", "lower_is_better", 1004, True),
]  # fmt: skip

COLLECTED_KEYS = [
    "reactive_tickets_created",
    "reactive_tickets_closed",
    "reactive_time_spent",
    "endpoints_managed",
    "mrr",
    "total_revenue",
]
# month: created, closed, hours, endpoints, mrr, revenue (None: source had no data)
COLLECTED = {
    "2024-01": (70, 60, 27, 120, 15000, 25000),
    "2024-02": (80, 70, 36, 120, 15000, 24000),
    "2024-03": (90, 80, 45, 120, 16000, 26000),
    "2024-10": (90, 95, 40, 180, 18000, 28000),
    "2024-11": (100, 100, 50, 190, 19000, 29000),
    "2024-12": (110, 105, 60, 200, 19500, 30000),
    "2025-01": (100, 90, 45, 200, 20000, 30000),
    "2025-02": (120, 130, 60, 210, 21000, 31000),
    "2025-03": (80, 85, 39, 190, 22000, 33000),
    "2025-04": (30, 25, 12.5, 195, None, None),
}
MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)][:16]  # 2024-01..2025-04
QUARTERS = ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]
IN_PROGRESS_MONTH, IN_PROGRESS_QUARTER = "2025-04", "2025-Q2"

# period, metric, value (entered by hand, before the API is up)
MANUAL = [
    ("2025-01", "technical_employees", 4),
    ("2025-02", "technical_employees", 4),
    ("2025-03", "technical_employees", 5),
    ("2025-01", "employees", 8.5),
    ("2025-02", "employees", 8.5),
    ("2025-03", "employees", 9),
    ("2025-03", "cash_reserve", 50000),
]

# metric, direction, green_min, green_max, yellow_min, yellow_max
DEFAULT_THRESHOLDS = [
    ("tickets_per_tech_per_month", "in_range", 40, 60, 30, 70),
    ("total_close_pct", "in_range", 0.95, 1.05, 0.90, 1.10),
    ("rhem", "lower_is_better", 0.10, 0.20, None, 0.25),
]

CLIENTS = [
    (101, "Acme Dental", "ACME", "Acme Dental", "Acme Dental LLC", "matched", False),
    (102, "Bolt Law", "BOLT", "Bolt Law Office", None, "partial", False),
    (900, "Enersystems", "ENER", "Enersystems", None, "matched", True),
]
# (period, client, metric, value)
CLIENT_METRICS = [
    ("2025-01", 101, "endpoints_managed", 50),
    ("2025-01", 101, "reactive_tickets_created", 20),
    ("2025-02", 101, "endpoints_managed", 52),
    ("2025-02", 101, "reactive_tickets_created", 25),
    ("2025-01", 102, "endpoints_managed", 30),
    ("2025-01", 102, "reactive_tickets_created", 10),
]

RUN_OK = "bc_01JD0000000000000000000001"
RUN_PARTIAL = "bc_01JD0000000000000000000002"

EXPECTED = {
    "2025-Q1": {
        "rhem": 0.24,
        "total_close_pct": 305 / 300,
        "tickets_per_tech_per_month": 305 / 13,
        "rhem_qoq": 0.24 - 150 / 190 / 3,
        "rhem_yoy": 0.24 - 0.3,
        "close_qoq": 305 / 300 - 1.0,
        "close_yoy": 305 / 300 - 0.875,
    }
}

DDL = """
create schema qbr;
create schema raw_connectwise;
create schema raw_quickbooks;
create schema inventory;
create table raw_connectwise.tickets (id integer primary key, summary text);
insert into raw_connectwise.tickets values (1, 'printer on fire');
create table raw_quickbooks.profit_and_loss (account_key text, month date, amount numeric);
insert into raw_quickbooks.profit_and_loss values ('4000', '2025-01-01', 100);
create table inventory.device_snapshot (device_id integer, snapshot_date date);
insert into inventory.device_snapshot values (1, '2025-01-31');

create table qbr.data_quality_flags (
    organization_id integer not null, period text not null, metric_key text,
    flag text not null, severity text not null, message text not null, subject text,
    flag_id text not null primary key
);
insert into qbr.data_quality_flags values
    (1, '2025-03', 'reactive_tickets_created', 'large_change', 'warning',
     'reactive_tickets_created changed by 80% from the previous month',
     'reactive_tickets_created', md5('1|2025-03|large_change|reactive_tickets_created'));

create table qbr.periods (
    organization_id integer not null, period text primary key,
    period_type text not null, start_date date, end_date date,
    starts_at timestamptz, ends_at timestamptz, is_complete boolean,
    is_in_progress boolean, months text[], has_connectwise boolean,
    has_quickbooks boolean, has_inventory boolean
);
create table qbr.metric_definitions (
    metric_key text primary key, metric_name text, category text, unit text, source text,
    formula text, quarterly_rule text, direction text, display_order integer,
    is_smartnumber boolean, description text, docs_url text, collection text, metric_type text
);
create table qbr.fx_collected_monthly (
    organization_id integer not null, period text not null, metric_key text not null,
    collected_value numeric, coverage text, updated_at timestamptz,
    primary key (organization_id, period, metric_key)
);
create table qbr.fx_default_thresholds (
    organization_id integer not null, metric_key text not null, direction text not null,
    green_min numeric, green_max numeric, yellow_min numeric, yellow_max numeric
);
create table qbr.clients (
    organization_id integer not null, client_id bigint primary key, client_name text, identifier text,
    ninja_organization text, quickbooks_customer text, match_status text,
    is_internal boolean
);
create table qbr.client_metrics_monthly (
    organization_id integer not null, period text not null, client_id bigint not null,
    client_name text, metric_key text not null, metric_name text, value numeric, unit text,
    category text, source text
);

create view qbr.thresholds_effective as
select
    coalesce(c.organization_id, d.organization_id) as organization_id,
    coalesce(c.metric_key, d.metric_key) as metric_key,
    case when c.id is null then d.direction else c.direction end as direction,
    case when c.id is null then d.green_min else c.green_min end as green_min,
    case when c.id is null then d.green_max else c.green_max end as green_max,
    case when c.id is null then d.yellow_min else c.yellow_min end as yellow_min,
    case when c.id is null then d.yellow_max else c.yellow_max end as yellow_max,
    case when c.id is null then 'default' else 'custom' end as origin
from qbr.fx_default_thresholds as d
full outer join qbr_app.thresholds as c
    on c.organization_id = d.organization_id and c.metric_key = d.metric_key;

create view qbr.metrics_monthly as
with latest_manual as (
    select distinct on (organization_id, period, metric_key)
        organization_id, period, metric_key, action, value, created_at
    from qbr_app.manual_metrics
    order by organization_id, period, metric_key, created_at desc, id desc
),
overlaid as (
    select
        c.organization_id, c.period, c.metric_key, d.metric_name,
        case when m.action = 'set' then m.value else c.collected_value end as value,
        d.unit, d.category, d.source,
        case when m.action = 'set' then 'manual' else 'collected' end as data_source,
        c.collected_value,
        case when m.action = 'set' then m.value end as manual_value,
        p.is_complete, p.is_in_progress, c.coverage,
        greatest(c.updated_at, m.created_at) as updated_at
    from qbr.fx_collected_monthly as c
    inner join qbr.metric_definitions as d on d.metric_key = c.metric_key
    inner join qbr.periods as p on p.period = c.period
    left join latest_manual as m
        on m.organization_id = c.organization_id and m.period = c.period
        and m.metric_key = c.metric_key
)
select
    o.organization_id, o.period, o.metric_key, o.metric_name, o.value, o.unit, o.category,
    o.source, o.data_source, o.collected_value, o.manual_value, o.is_complete,
    o.is_in_progress, o.coverage,
    qbr_app.threshold_status(
        o.value, t.direction, t.green_min, t.green_max, t.yellow_min, t.yellow_max
    ) as status,
    o.updated_at
from overlaid as o
left join qbr.thresholds_effective as t
    on t.organization_id = o.organization_id and t.metric_key = o.metric_key;

create view qbr.metrics_quarterly as
with quarter_months as (
    select organization_id, period, is_complete, unnest(months) as month
    from qbr.periods where period_type = 'quarterly'
)
select
    q.organization_id, q.period, m.metric_key, m.metric_name,
    case d.quarterly_rule
        when 'sum' then sum(m.value)
        when 'avg' then avg(m.value)
        when 'last' then (array_agg(m.value order by m.period desc))[1]
    end as value,
    m.unit, m.category, m.source, d.quarterly_rule,
    count(m.value)::integer as months_with_value,
    q.is_complete,
    jsonb_object_agg(m.period, m.value) as monthly_values
from quarter_months as q
inner join qbr.metrics_monthly as m
    on m.organization_id = q.organization_id and m.period = q.month
inner join qbr.metric_definitions as d on d.metric_key = m.metric_key
group by q.organization_id, q.period, m.metric_key, m.metric_name, m.unit, m.category,
    m.source, d.quarterly_rule, q.is_complete;

create view qbr.smartnumbers as
with wide as (
    select
        organization_id, period,
        substr(period, 1, 4)::integer * 4 + substr(period, 7, 1)::integer as q_index,
        max(value) filter (where metric_key = 'reactive_tickets_created') as created,
        max(value) filter (where metric_key = 'reactive_tickets_closed') as closed,
        max(value) filter (where metric_key = 'reactive_time_spent') as hours,
        max(value) filter (where metric_key = 'endpoints_managed') as endpoints,
        max(value) filter (where metric_key = 'technical_employees') as techs
    from qbr.metrics_quarterly
    group by organization_id, period
),
calc as (
    select organization_id, period, q_index, 'rhem' as metric_key,
        hours / nullif(endpoints, 0) / 3 as value,
        jsonb_build_object('reactive_time_spent', hours, 'endpoints_managed', endpoints)
            as inputs
    from wide
    union all
    select organization_id, period, q_index, 'total_close_pct',
        closed / nullif(created, 0),
        jsonb_build_object('reactive_tickets_closed', closed,
            'reactive_tickets_created', created)
    from wide
    union all
    select organization_id, period, q_index, 'tickets_per_tech_per_month',
        closed / nullif(techs, 0) / 3,
        jsonb_build_object('reactive_tickets_closed', closed, 'technical_employees', techs)
    from wide
)
select
    c.organization_id, c.period, c.metric_key, d.metric_name, c.value, d.unit, d.category,
    case when not p.is_in_progress then qbr_app.threshold_status(
        c.value, t.direction, t.green_min, t.green_max, t.yellow_min, t.yellow_max
    ) end as status,
    c.value - prev.value as qoq_change,
    c.value - year_ago.value as yoy_change,
    c.inputs, d.display_order, p.is_complete, p.is_in_progress as is_provisional
from calc as c
inner join qbr.metric_definitions as d on d.metric_key = c.metric_key
inner join qbr.periods as p on p.period = c.period
left join calc as prev
    on prev.organization_id = c.organization_id and prev.metric_key = c.metric_key
    and prev.q_index = c.q_index - 1
left join calc as year_ago
    on year_ago.organization_id = c.organization_id and year_ago.metric_key = c.metric_key
    and year_ago.q_index = c.q_index - 4
left join qbr.thresholds_effective as t
    on t.organization_id = c.organization_id and t.metric_key = c.metric_key;
"""


def _coverage(key: str, value) -> str:
    """As the real mart: collected | manual (a manual-only metric) | why not (not_loaded)."""
    if key not in COLLECTED_KEYS:
        return "manual"
    return "collected" if value is not None else "not_loaded"


def _month_rows() -> list[tuple]:
    rows = []
    for month in MONTHS:
        year, m = int(month[:4]), int(month[5:])
        nxt = f"{year + (m == 12)}-{m % 12 + 1:02d}-01"
        has = month in COLLECTED
        rows.append(
            (
                ORG,
                month,
                "monthly",
                f"{month}-01",
                nxt,
                month != IN_PROGRESS_MONTH,
                month == IN_PROGRESS_MONTH,
                [month],
                has,
                has and COLLECTED[month][4] is not None,
                has,
            )
        )
    return rows


def _quarter_rows() -> list[tuple]:
    rows = []
    for quarter in QUARTERS:
        year, q = int(quarter[:4]), int(quarter[6])
        months = [f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
        nxt = f"{year + (q == 4)}-{(3 * q) % 12 + 1:02d}-01"
        has = any(m in COLLECTED for m in months)
        rows.append(
            (
                ORG,
                quarter,
                "quarterly",
                f"{months[0]}-01",
                nxt,
                quarter != IN_PROGRESS_QUARTER,
                quarter == IN_PROGRESS_QUARTER,
                months,
                has,
                has,
                has,
            )
        )
    return rows


def load(settings: Settings) -> None:
    """Create the marts and the raw/inventory stand-ins, fill them, grant the API role."""
    with db.connect(settings) as conn:
        conn.execute(DDL)
        for row in _month_rows() + _quarter_rows():
            conn.execute(
                "insert into qbr.periods (organization_id, period, period_type, start_date, "
                "end_date, starts_at, ends_at, is_complete, is_in_progress, months, "
                "has_connectwise, has_quickbooks, has_inventory) "
                "values (%s, %s, %s, %s::date, %s::date - 1, "
                "(%s::date)::timestamp at time zone 'America/Chicago', "
                "(%s::date)::timestamp at time zone 'America/Chicago', "
                "%s, %s, %s, %s, %s, %s)",
                (row[0], row[1], row[2], row[3], row[4], row[3], row[4], *row[5:]),
            )
        for key, name, category, unit, source, rule, direction, order, smart in DEFINITIONS:
            conn.execute(
                "insert into qbr.metric_definitions values "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    key,
                    name,
                    category,
                    unit,
                    source,
                    f"formula of {key}",
                    rule,
                    direction,
                    order,
                    smart,
                    f"What {key} means.",
                    f"http://127.0.0.1:8080/#!/model/model.qbr.{key}",
                    # as the catalogue seed: collection, metric_type
                    "derived" if smart else "manual" if source == "manual" else "collected",
                    "smartnumber" if smart else "input",
                ),
            )
            if smart:
                continue
            for month in MONTHS:
                values = COLLECTED.get(month)
                value = (
                    values[COLLECTED_KEYS.index(key)] if values and key in COLLECTED_KEYS else None
                )
                conn.execute(
                    "insert into qbr.fx_collected_monthly values "
                    "(%s, %s, %s, %s, %s, '2025-04-10T03:00:00Z')",
                    (ORG, month, key, value, _coverage(key, value)),
                )
        for period, key, value in MANUAL:
            conn.execute(
                "insert into qbr_app.manual_metrics (period, metric_key, value, notes, entered_by) "
                "values (%s, %s, %s, 'from the sheet', 'fixture')",
                (period, key, value),
            )
        for key, *bands in DEFAULT_THRESHOLDS:
            conn.execute(
                "insert into qbr.fx_default_thresholds values (%s, %s, %s, %s, %s, %s, %s)",
                (ORG, key, *bands),
            )
        for client in CLIENTS:
            conn.execute(
                "insert into qbr.clients values (%s, %s, %s, %s, %s, %s, %s, %s)", (ORG, *client)
            )
        names = {d[0]: d for d in DEFINITIONS}
        client_names = {c[0]: c[1] for c in CLIENTS}
        for period, client_id, key, value in CLIENT_METRICS:
            d = names[key]
            conn.execute(
                "insert into qbr.client_metrics_monthly values "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    ORG,
                    period,
                    client_id,
                    client_names[client_id],
                    key,
                    d[1],
                    value,
                    d[3],
                    d[2],
                    d[4],
                ),
            )
        _runs(conn)
        roles.grant_read(conn, "qbr")


def _runs(conn) -> None:
    conn.execute(
        "insert into qbr_app.refresh_runs (batch_id, status, trigger, requested_by, options, "
        "progress, created_at, started_at, finished_at) values "
        "(%s, 'succeeded', 'cli', 'ops', %s, 100, now() - interval '26 hours', "
        "now() - interval '26 hours', now() - interval '25 hours'), "
        "(%s, 'partial', 'schedule', null, %s, 100, now() - interval '2 hours', "
        "now() - interval '2 hours', now() - interval '1 hour')",
        (RUN_OK, Jsonb({"sources": ["connectwise", "quickbooks"]}), RUN_PARTIAL, Jsonb({})),
    )
    steps = [
        (RUN_OK, 0, "connectwise", "source", "succeeded", 120, "26 hours", "25.5 hours", None),
        (RUN_OK, 1, "quickbooks", "source", "succeeded", 40, "25.5 hours", "25.2 hours", None),
        (RUN_OK, 2, "dbt_build", "build", "succeeded", 0, "25.2 hours", "25 hours", None),
        (RUN_PARTIAL, 0, "connectwise", "source", "succeeded", 12, "2 hours", "1.5 hours", None),
        (RUN_PARTIAL, 1, "quickbooks", "source", "failed", None, "1.5 hours", "1.4 hours", "HTTP 500 from QuickBooks"),
        (RUN_PARTIAL, 2, "dbt_build", "build", "succeeded", 0, "1.4 hours", "1 hour", None),
    ]  # fmt: skip
    for batch, order, name, kind, status, rows, started, finished, error in steps:
        conn.execute(
            "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind, status, "
            "rows_loaded, started_at, finished_at, duration_ms, error) values "
            "(%s, %s, %s, %s, %s, %s, now() - %s::interval, now() - %s::interval, 1000, %s)",
            (batch, order, name, kind, status, rows, started, finished, error),
        )
