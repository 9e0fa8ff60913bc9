"""QuickBooks Online -> raw_quickbooks.

Resources: accounts, customers, items, invoices (lines in the child table
`invoices__line`), payments, credit_memos, and `profit_and_loss` (the
ProfitAndLoss report by month, one row per account and month; see pnl.py).

- OAuth2 refresh-token grant with rotating refresh tokens (auth.py): the
  newest refresh token is stored in `qbr_app.source_credentials` at once.
- Entities are read with the query endpoint, 1000 per page
  (`STARTPOSITION`/`MAXRESULTS`, `QueryPaginator`), ordered by Id (stable
  while we page), incremental on `MetaData.LastUpdatedTime` and merged on Id.
  Name lists (Account, Customer, Item) are asked for `Active IN (true,
  false)`: inactive rows are otherwise hidden, and going inactive is a change.
- Deletions: change data capture (`/cdc`, `"status": "Deleted"`) since the
  last check; when that is older than CDC's 30-day look-back (or the answer
  hits its 1000-object cap), and on every full refresh, an Id-only sweep
  instead. Either way rows are stamped `_deleted_at` after the load, in the
  transaction that also advances the checkpoint (deletions.py).
- The P&L: the last 13 months are re-read every run (books of closed months
  still change); the whole history from `history_start` on the first run, and
  from `since` when asked.

All entity resources and the report run in parallel (dlt's extract pool has
5 workers; QuickBooks allows 10 concurrent requests per realm).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt

from dlt_pipelines import pnl
from dlt_pipelines.auth import DbTokenStore, QuickBooksOAuth2, TokenStore
from dlt_pipelines.constants import EPOCH
from dlt_pipelines.deletions import Deletions
from dlt_pipelines.http import SourceClient, quickbooks_message
from dlt_pipelines.incremental import cursor
from dlt_pipelines.paginators import QueryPaginator
from dlt_pipelines.quarantine import (
    SCHEMA_CONTRACT,
    Field,
    Quarantine,
    Rules,
    parse_datetime,
    split,
)
from dlt_pipelines.quickbooks.settings import (
    PNL_ACCOUNTING_METHOD,
    PNL_MONTHS_PER_REQUEST,
    PNL_REREAD_MONTHS,
    QBO_CDC_MAX_AGE_DAYS,
    QBO_CDC_MAX_OBJECTS,
    QBO_CREDENTIALS_KEY,
    QBO_CURSOR,
    QBO_ENTITIES,
    QBO_MAX_CONCURRENCY,
    QBO_MINOR_VERSION,
    QBO_NAME_LISTS,
    QBO_PAGE_SIZE,
)
from dlt_pipelines.runner import run_source
from qbr import periods
from qbr import sources as registry

LABEL = registry.REGISTRY["quickbooks"].label  # qbr/sources.py
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def _ref(name: str) -> tuple[Field, ...]:
    """A reference `{value, name}` as flattened columns."""
    return (Field(f"{name}.value", "id_text"), Field(f"{name}.name", "text"))


META = (
    Field("MetaData.CreateTime", "datetime"),
    Field("MetaData.LastUpdatedTime", "datetime", required=True),
)

ID = Field("Id", "id_text", required=True)

RULES: dict[str, Rules] = {
    "accounts": Rules(
        (
            ID,
            Field("Name", "text"),
            Field("FullyQualifiedName", "text"),
            Field("AccountType", "text"),
            Field("AccountSubType", "text"),
            Field("Classification", "text"),
            Field("Active", "bool"),
            Field("SubAccount", "bool"),
            *_ref("ParentRef"),
            Field("AcctNum", "text"),
            Field("CurrentBalance", "money"),
            *META,
        ),
        id_path="Id",
    ),
    "customers": Rules(
        (
            ID,
            Field("DisplayName", "text"),
            Field("CompanyName", "text"),
            Field("Active", "bool"),
            Field("Balance", "money"),
            *_ref("ParentRef"),
            Field("Job", "bool"),
            *META,
        ),
        id_path="Id",
    ),
    "items": Rules(
        (
            ID,
            Field("Name", "text"),
            Field("Type", "text"),
            Field("Active", "bool"),
            *_ref("IncomeAccountRef"),
            Field("UnitPrice", "money"),
            *META,
        ),
        id_path="Id",
    ),
    "invoices": Rules(
        (
            ID,
            Field("DocNumber", "text"),
            Field("TxnDate", "date"),
            Field("DueDate", "date"),
            *_ref("CustomerRef"),
            Field("TotalAmt", "money", non_negative=True),
            Field("Balance", "money", non_negative=True),
            Field("TxnTaxDetail.TotalTax", "money"),
            Field("Line", "list"),
            *META,
        ),
        id_path="Id",
    ),
    "payments": Rules(
        (
            ID,
            Field("TxnDate", "date"),
            *_ref("CustomerRef"),
            Field("TotalAmt", "money", non_negative=True),
            Field("UnappliedAmt", "money"),
            Field("Line", "list"),
            *META,
        ),
        id_path="Id",
    ),
    "credit_memos": Rules(
        (
            ID,
            Field("DocNumber", "text"),
            Field("TxnDate", "date"),
            *_ref("CustomerRef"),
            Field("TotalAmt", "money", non_negative=True),
            Field("Balance", "money", non_negative=True),
            Field("RemainingCredit", "money"),
            Field("Line", "list"),
            *META,
        ),
        id_path="Id",
    ),
}

#: column hints of the `<entity>__line` child tables
LINE_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"name": "id", "data_type": "text"},
    "line_num": {"name": "line_num", "data_type": "bigint"},
    "description": {"name": "description", "data_type": "text"},
    "amount": {"name": "amount", "data_type": "decimal"},
    "detail_type": {"name": "detail_type", "data_type": "text"},
    "sales_item_line_detail__item_ref__value": {
        "name": "sales_item_line_detail__item_ref__value",
        "data_type": "text",
    },
    "sales_item_line_detail__item_ref__name": {
        "name": "sales_item_line_detail__item_ref__name",
        "data_type": "text",
    },
    "sales_item_line_detail__qty": {"name": "sales_item_line_detail__qty", "data_type": "double"},
    "sales_item_line_detail__unit_price": {
        "name": "sales_item_line_detail__unit_price",
        "data_type": "decimal",
    },
    # nested lines of a group stay one json value (no grandchild table)
    "group_line_detail": {"name": "group_line_detail", "data_type": "json"},
}
LINE_TABLES = {"invoices", "payments", "credit_memos"}


def qbo_time(value: datetime) -> str:
    """Query literal: UTC with the `-00:00` offset the service documents."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def _prepare(record: dict) -> dict:
    """MetaData times as aware datetimes: the service mixes offsets (-08:00/-07:00),
    so they must be compared as instants, never as text. Null top-level fields
    are dropped (they would become untyped columns)."""
    record = {k: v for k, v in record.items() if v is not None}
    meta = record.get("MetaData")
    if isinstance(meta, dict):
        meta = dict(meta)
        for key in ("CreateTime", "LastUpdatedTime"):
            if isinstance(meta.get(key), str):
                meta[key] = parse_datetime(meta[key])
        record = {**record, "MetaData": meta}
    return record


def _time_of(body: Any) -> datetime | None:
    """The server's clock from a response's `time` field."""
    return parse_datetime(body.get("time")) if isinstance(body, dict) else None


@dlt.source(name="quickbooks", max_table_nesting=3, schema_contract=SCHEMA_CONTRACT)
def quickbooks_source(
    base_url: str = dlt.config.value,
    token_url: str = dlt.config.value,
    client_id: str = dlt.secrets.value,
    client_secret: str = dlt.secrets.value,
    realm_id: str = dlt.config.value,
    refresh_token: str | None = None,
    token_store: TokenStore | None = None,
    resources: tuple[str, ...] = (*QBO_ENTITIES, pnl.TABLE),
    since: date | None = None,
    full: bool = False,
    history_start: date = date(2024, 1, 1),
    accounting_method: str = PNL_ACCOUNTING_METHOD,
    deletions: Deletions | None = None,
    rejected: Quarantine | None = None,
    known_types: Mapping[str, Mapping[str, str]] | None = None,
) -> Any:
    """QuickBooks Online resources (see the module docstring).

    `refresh_token` is the configured (initial) token; a newer one from
    `token_store` is preferred. `since` re-reads entities changed since then
    and the P&L from that month without moving the stored cursors; `full`
    reads every entity and the whole P&L history and sets the cursors from
    what it read (the next plain refresh is incremental again).
    """
    unknown = set(resources) - {*QBO_ENTITIES, pnl.TABLE}
    if unknown:
        raise ValueError(f"unknown QuickBooks resources: {', '.join(sorted(unknown))}")
    auth = QuickBooksOAuth2(
        token_url, client_id, client_secret, realm_id, refresh_token, token_store
    )
    headers = {"Accept": "application/json"}

    def client() -> SourceClient:
        return SourceClient(LABEL, base_url, quickbooks_message, auth=auth, headers=headers)

    if full:
        start, end = EPOCH, None
    elif since is not None:
        start, end = datetime(since.year, since.month, 1, tzinfo=UTC), FAR_FUTURE
    else:
        start, end = EPOCH, None
    collector = deletions if deletions is not None else Deletions()
    bad = rejected if rejected is not None else Quarantine()
    known = known_types or {}
    out = [
        _entity_resource(name, client, start, end, full, collector, bad, known.get(name))
        for name in resources
        if name in QBO_ENTITIES
    ]
    if pnl.TABLE in resources:
        first = since if since is not None else (history_start if full else None)
        out.append(_pnl_resource(client, first, history_start, accounting_method))
    return out


def _entity_resource(
    name: str,
    client: Any,
    start: datetime,
    end: datetime | None,
    full: bool,
    deletions: Deletions,
    rejected: Quarantine,
    known_types: Mapping[str, str] | None,
) -> Any:
    entity = QBO_ENTITIES[name]
    rules = RULES[name]
    nested = {(("Line",)): {"columns": LINE_COLUMNS}} if name in LINE_TABLES else None

    # full: read everything and set the cursor; since (`end_value`): keep it
    # (the incremental deduplicates raw records, where the key is still spelled `Id`)
    updated_cursor = cursor(QBO_CURSOR, start, end, full=full, primary_key="Id")

    @dlt.resource(
        name=name,
        primary_key="id",
        write_disposition="merge",
        columns=rules.columns(),
        nested_hints=nested,
        parallelized=True,
    )
    def records(updated: dlt.sources.incremental[datetime] = updated_cursor) -> Iterator[Any]:
        http = client()
        where = [f"MetaData.LastUpdatedTime >= '{qbo_time(updated.start_value)}'"]
        if entity in QBO_NAME_LISTS:
            where.append("Active IN (true, false)")
        query = f"SELECT * FROM {entity} WHERE {' AND '.join(where)} ORDERBY Id"
        server_now: datetime | None = None
        for page in http.paginate(
            "query",
            params={"minorversion": QBO_MINOR_VERSION},
            paginator=QueryPaginator(query, QBO_PAGE_SIZE),
            data_selector=f"QueryResponse.{entity}",
        ):
            if server_now is None:
                server_now = _time_of(page.response.json())  # type: ignore[attr-defined]
            good = split(page, rules, "quickbooks", name, rejected, known_types)
            if good:
                yield [_prepare(r) for r in good]
        # the checkpoint advances with the marks (deletions.apply, one transaction), never
        # with dlt's state, which is committed with the load - before the marks
        legacy = dlt.current.resource_state().get("deletions_checked_at")
        deletions.reached(
            name,
            _check_deletions(
                http, name, entity, deletions.checkpoint(name, legacy), server_now, deletions,
                sweep=full,
            ),
        )  # fmt: skip

    return records


def _check_deletions(
    http: SourceClient,
    name: str,
    entity: str,
    checked_at: Any,
    server_now: datetime | None,
    deletions: Deletions,
    sweep: bool = False,
) -> str:
    """CDC since the last check when that is within CDC's look-back (by the
    server's clock), else (or with `sweep`: a full refresh) an Id sweep; returns
    the new checkpoint (ISO). A sweep also marks rows CDC never reports (a row
    that never existed at the source, e.g. a malformed record's)."""
    last = parse_datetime(checked_at) if checked_at else None
    now = server_now or datetime.now(UTC)
    recent = last is not None and now - last < timedelta(days=QBO_CDC_MAX_AGE_DAYS)
    if recent and not sweep:
        body = http.get_json(
            "cdc",
            params={
                "entities": entity,
                # a little overlap: marking twice is harmless, missing one is not
                "changedSince": qbo_time(last - timedelta(minutes=5)),
                "minorversion": QBO_MINOR_VERSION,
            },
        )
        gone, total = _cdc_deleted(body, entity)
        if total < QBO_CDC_MAX_OBJECTS:
            deletions.reported_gone(name, gone)
            return (_time_of(body) or now).isoformat()
    ids, swept_at = _sweep(http, entity)
    deletions.swept(name, ids)
    return (swept_at or now).isoformat()


def _cdc_deleted(body: dict, entity: str) -> tuple[dict[str, datetime | None], int]:
    """({Id: deleted at} for objects with status Deleted, objects in the answer)."""
    gone: dict[str, datetime | None] = {}
    total = 0
    for block in body.get("CDCResponse") or []:
        for response in block.get("QueryResponse") or []:
            for record in response.get(entity) or []:
                total += 1
                if isinstance(record, dict) and record.get("status") == "Deleted":
                    when = parse_datetime((record.get("MetaData") or {}).get("LastUpdatedTime"))
                    gone[str(record.get("Id"))] = when
    return gone, total


def _sweep(http: SourceClient, entity: str) -> tuple[set[str], datetime | None]:
    """Every Id that exists now (`SELECT Id`), and the server's time before reading."""
    where = " WHERE Active IN (true, false)" if entity in QBO_NAME_LISTS else ""
    ids: set[str] = set()
    now: datetime | None = None
    paginator = QueryPaginator(f"SELECT Id FROM {entity}{where} ORDERBY Id", QBO_PAGE_SIZE)
    for page in http.paginate(
        "query",
        params={"minorversion": QBO_MINOR_VERSION},
        paginator=paginator,
        data_selector=f"QueryResponse.{entity}",
    ):
        if now is None:
            now = _time_of(page.response.json())  # type: ignore[attr-defined]
        ids.update(str(r["Id"]) for r in page if isinstance(r, dict) and r.get("Id") is not None)
    return ids, now


def _pnl_resource(
    client: Any, first: date | None, history_start: date, accounting_method: str
) -> Any:
    """The P&L by month: re-read from `first` (or, without one, the last 13
    months - or the whole history on the first run)."""

    def rows() -> Iterator[Any]:
        http = client()
        state = dlt.current.resource_state()
        today = _server_today(http)
        current = today.replace(day=1)
        start = first
        if start is None:
            if state.get("history_loaded"):
                start = pnl.add_months(current, -(PNL_REREAD_MONTHS - 1))
            else:
                start = history_start
        start = max(start.replace(day=1), date(1990, 1, 1))
        loaded_at = datetime.now(UTC)
        for window_start, window_end in pnl.month_windows(start, current, PNL_MONTHS_PER_REQUEST):
            report = http.get_json(
                "reports/ProfitAndLoss",
                params={
                    "start_date": window_start.isoformat(),
                    "end_date": window_end.isoformat(),
                    "accounting_method": accounting_method,
                    "summarize_column_by": "Month",
                    "minorversion": QBO_MINOR_VERSION,
                },
            )
            # raises ReportMismatch (nothing loaded) unless every section adds up
            batch = pnl.flatten_report(
                report, accounting_method, loaded_at, window=(window_start, window_end)
            )
            if batch:
                yield batch
        if start <= history_start.replace(day=1):
            state["history_loaded"] = True
        state["last_window"] = [start.isoformat(), current.isoformat()]

    return pnl.pnl_resource(rows, name=pnl.TABLE)


def _server_today(http: SourceClient) -> date:
    """The service's current date (its clock, not ours: they can differ)."""
    body = http.get_json(
        "query",
        params={"query": "SELECT COUNT(*) FROM Account", "minorversion": QBO_MINOR_VERSION},
    )
    now = _time_of(body)
    return now.date() if now else datetime.now(UTC).date()


def run(
    settings: Any,
    config: Mapping[str, Any] | None,
    *,
    full: bool = False,
    since: date | None = None,
    **options: Any,
) -> Any:
    """The `quickbooks` refresh step (see dlt_pipelines/runner.py)."""
    kwargs = dict(config or {})
    if not kwargs.get("refresh_token"):
        kwargs["refresh_token"] = configured_refresh_token()
    store = options.pop("token_store", None) or DbTokenStore(settings, QBO_CREDENTIALS_KEY)
    history = periods.month_start(settings.history_start)

    def build(context: Any) -> Any:
        return quickbooks_source(
            **kwargs,
            token_store=store,
            full=full,
            since=since,
            history_start=history,
            deletions=context.deletions,
            rejected=context.rejected,
            known_types=context.known_types,
            **options,
        )

    # resources extract in parallel, never more at once than the realm allows
    return run_source(settings, "quickbooks", build, label=LABEL, workers=QBO_MAX_CONCURRENCY)


def configured_refresh_token() -> str | None:
    """`SOURCES__QUICKBOOKS__REFRESH_TOKEN` or `sources.quickbooks.refresh_token`
    in `.dlt/secrets.toml`; None when neither is set."""
    try:
        value = dlt.secrets.get("sources.quickbooks.refresh_token")
    except Exception:
        value = None
    return str(value) if value else None
