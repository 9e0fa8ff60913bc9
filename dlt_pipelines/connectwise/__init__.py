"""ConnectWise PSA (Manage) -> raw_connectwise.

Six resources (tickets, time_entries, companies, boards, agreements, members),
each:
- read with HTTP Basic (`companyId+publicKey` / `privateKey`) plus the
  required `clientId` header;
- paged 1000 at a time, following the `Link` header (`HeaderLinkPaginator`)
  in forward-only mode (`pageId` = last id), so records changing while we page
  can neither be skipped nor read twice;
- incremental on `_info.lastUpdated` (`conditions=lastUpdated >= [cursor]`),
  merged on `id`;
- validated record by record (bad ones go to `rejected_records`);
- followed by a deletion check that marks rows deleted at the source
  (`_deleted_at`) once the load has succeeded: the source's `/count` against
  the live rows, and the id-only sweep (`fields=id`) only when they differ or
  the scheduled full sweep is due (`_check_deletions`).

The resources are independent and extracted in parallel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt

from dlt_pipelines.auth import connectwise_auth
from dlt_pipelines.connectwise.settings import (
    CW_ACCEPT,
    CW_CURSOR,
    CW_FORWARD_ONLY,
    CW_PAGE_SIZE,
    CW_RESOURCES,
)
from dlt_pipelines.constants import EPOCH
from dlt_pipelines.deletions import Deletions
from dlt_pipelines.http import SourceClient, connectwise_message
from dlt_pipelines.incremental import cursor
from dlt_pipelines.paginators import connectwise_paginator
from dlt_pipelines.quarantine import (
    SCHEMA_CONTRACT,
    Field,
    Quarantine,
    Rules,
    parse_datetime,
    split,
)
from dlt_pipelines.runner import run_source
from qbr import sources as registry
from qbr.periods import month_start_utc
from qbr.settings import DEFAULT_DELETION_SWEEP_DAYS

LABEL = registry.REGISTRY["connectwise"].label  # qbr/sources.py
#: with `end_value` set (`since`), dlt reads the range without touching the cursor
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=EPOCH.tzinfo)


def _ref(name: str, *extra: str) -> tuple[Field, ...]:
    """A reference object `{id, name, ...}` as flattened columns."""
    return (
        Field(f"{name}.id", "int"),
        Field(f"{name}.name", "text"),
        *(Field(f"{name}.{e}", "text") for e in extra),
    )


INFO = (
    Field("_info.lastUpdated", "datetime", required=True),
    Field("_info.dateEntered", "datetime"),
    Field("_info.enteredBy", "text"),
    Field("_info.updatedBy", "text"),
)

ID = (Field("id", "int", required=True),)

#: what each resource relies on (column hints + validation)
RULES: dict[str, Rules] = {
    "tickets": Rules(
        (
            *ID,
            Field("summary", "text"),
            Field("recordType", "text"),
            *_ref("board"),
            *_ref("status"),
            *_ref("type"),
            *_ref("subType"),
            *_ref("company", "identifier"),
            *_ref("contact"),
            *_ref("priority"),
            *_ref("source"),
            *_ref("team"),
            *_ref("owner", "identifier"),
            *_ref("agreement"),
            Field("parentTicketId", "int"),
            Field("closedDate", "datetime"),
            Field("closedBy", "text"),
            Field("closedFlag", "bool"),
            Field("actualHours", "number", non_negative=True),
            Field("budgetHours", "number", non_negative=True),
            Field("dateResolved", "datetime"),
            Field("dateResponded", "datetime"),
            Field("isInSla", "bool"),
            Field("customFields", "json"),
            *INFO,
        )
    ),
    "time_entries": Rules(
        (
            *ID,
            *_ref("company", "identifier"),
            Field("chargeToId", "int"),
            Field("chargeToType", "text"),
            *_ref("member", "identifier"),
            Field("timeStart", "datetime"),
            Field("timeEnd", "datetime"),
            Field("actualHours", "number", non_negative=True),
            Field("hoursBilled", "number", non_negative=True),
            Field("hoursDeduct", "number", non_negative=True),
            Field("billableOption", "text"),
            *_ref("workType"),
            *_ref("workRole"),
            *_ref("agreement"),
            Field("ticket.id", "int"),
            Field("ticket.summary", "text"),
            Field("notes", "text"),
            Field("dateEntered", "datetime"),
            *INFO,
        )
    ),
    "companies": Rules(
        (
            *ID,
            Field("identifier", "text"),
            Field("name", "text"),
            *_ref("status"),
            Field("addressLine1", "text"),
            Field("city", "text"),
            Field("state", "text"),
            Field("zip", "text"),
            Field("deletedFlag", "bool"),
            Field("dateDeleted", "datetime"),
            Field("leadFlag", "bool"),
            Field("isVendorFlag", "bool"),
            *INFO,
        )
    ),
    "boards": Rules(
        (
            *ID,
            Field("name", "text"),
            *_ref("location"),
            *_ref("department"),
            Field("inactiveFlag", "bool"),
            Field("projectFlag", "bool"),
            *INFO,
        )
    ),
    "agreements": Rules(
        (
            *ID,
            Field("name", "text"),
            *_ref("type"),
            *_ref("company", "identifier"),
            Field("startDate", "datetime"),
            Field("endDate", "datetime"),
            Field("noEndingDateFlag", "bool"),
            Field("billAmount", "money", non_negative=True),
            Field("cancelledFlag", "bool"),
            Field("dateCancelled", "datetime"),
            Field("agreementStatus", "text"),
            *_ref("billingCycle"),
            *_ref("parentAgreement"),
            *INFO,
        )
    ),
    "members": Rules(
        (
            *ID,
            Field("identifier", "text"),
            Field("firstName", "text"),
            Field("lastName", "text"),
            Field("inactiveFlag", "bool"),
            *INFO,
        )
    ),
}


def cw_time(value: datetime) -> str:
    """ConnectWise condition literal: UTC, `Z`, no fraction."""
    return value.astimezone(EPOCH.tzinfo).strftime("%Y-%m-%dT%H:%M:%SZ")


#: resource -> the paths of its declared date-time fields
DATETIME_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    name: tuple(f.parts for f in rules.fields if f.kind == "datetime")
    for name, rules in RULES.items()
}


def _prepare(record: dict, datetimes: tuple[tuple[str, ...], ...] = ()) -> dict:
    """The cursor as an aware datetime (compared as time, stored as timestamptz);
    null top-level fields dropped (a null reference would otherwise become an
    untyped column; declared columns exist anyway and stay null).

    The declared date-time fields (`datetimes`, validated already) become
    aware datetimes here, parsed in C: left as text, dlt's normalize parses
    each again with pendulum (about a third of its time). The same instant
    lands in the same timestamptz column either way."""
    record = {k: v for k, v in record.items() if v is not None}
    info = record.get("_info")
    if isinstance(info, dict):
        record["_info"] = info = dict(info)  # the page's own record stays as sent
    for parts in datetimes:
        if len(parts) == 1:
            value = record.get(parts[0])
            if isinstance(value, str):
                record[parts[0]] = parse_datetime(value)
        elif len(parts) == 2 and parts[0] == "_info" and info is not None:
            value = info.get(parts[1])
            if isinstance(value, str):
                info[parts[1]] = parse_datetime(value)
    if isinstance(info, dict) and isinstance(info.get("lastUpdated"), str):
        info["lastUpdated"] = parse_datetime(info["lastUpdated"])
    return record


def _list_params(**params: Any) -> dict[str, Any]:
    """List parameters; `orderBy` only in page-number mode (forward-only pages by id)."""
    out: dict[str, Any] = {"pageSize": CW_PAGE_SIZE, **params}
    if not CW_FORWARD_ONLY:
        out["orderBy"] = "id asc"
    return out


@dlt.source(name="connectwise", max_table_nesting=1, schema_contract=SCHEMA_CONTRACT)
def connectwise_source(
    base_url: str = dlt.config.value,
    company_id: str = dlt.secrets.value,
    public_key: str = dlt.secrets.value,
    private_key: str = dlt.secrets.value,
    client_id: str = dlt.secrets.value,
    resources: tuple[str, ...] = tuple(CW_RESOURCES),
    since: datetime | None = None,
    full: bool = False,
    deletions: Deletions | None = None,
    rejected: Quarantine | None = None,
    known_types: Mapping[str, Mapping[str, str]] | None = None,
    sweep: bool = True,
    sweep_days: float = DEFAULT_DELETION_SWEEP_DAYS,
) -> Any:
    """ConnectWise resources.

    `since` re-reads records updated since then without moving the stored
    cursors; `full` reads everything and sets the cursors from what it read
    (so the next plain refresh is incremental again). `deletions` collects the sweep's ids
    and `rejected` the rejected records (the runner loads and applies them);
    `known_types` are the raw tables' current column types, used to validate
    undeclared fields.
    """
    unknown = set(resources) - set(CW_RESOURCES)
    if unknown:
        raise ValueError(f"unknown ConnectWise resources: {', '.join(sorted(unknown))}")
    headers = {"clientId": client_id, "Accept": CW_ACCEPT}
    if CW_FORWARD_ONLY:
        headers["pagination-type"] = "forward-only"

    def client() -> SourceClient:
        return SourceClient(
            LABEL,
            base_url,
            connectwise_message,
            auth=connectwise_auth(company_id, public_key, private_key),
            headers=headers,
            paginator=connectwise_paginator(),
        )

    start, end = EPOCH, None
    if since is not None and not full:
        start, end = since, FAR_FUTURE
    collector = deletions if deletions is not None else Deletions()
    rejected = rejected if rejected is not None else Quarantine()
    known = known_types or {}
    return [
        _resource(
            name, client, start, end, full, collector, rejected, known.get(name), sweep, sweep_days
        )
        for name in resources
    ]


def _resource(
    name: str,
    client: Any,
    start: datetime,
    end: datetime | None,
    full: bool,
    deletions: Deletions,
    rejected: Quarantine,
    known_types: Mapping[str, str] | None,
    sweep: bool,
    sweep_days: float,
) -> Any:
    path = CW_RESOURCES[name]
    rules = RULES[name]
    datetimes = DATETIME_PATHS[name]

    # full: read everything and set the cursor; since (`end_value`): keep it
    updated_cursor = cursor(CW_CURSOR, start, end, full=full)

    @dlt.resource(
        name=name,
        primary_key="id",
        write_disposition="merge",
        columns=rules.columns(),
        parallelized=True,
    )
    def records(updated: dlt.sources.incremental[datetime] = updated_cursor) -> Iterator[Any]:
        http = client()
        started = time.monotonic()
        # from the epoch (a first run, `--full`): every record is read, which is a sweep
        complete = updated.start_value <= EPOCH
        params = _list_params(conditions=f"lastUpdated >= [{cw_time(updated.start_value)}]")
        ids_read: set[int] = set()
        pages = 0
        for page in http.paginate(path, params=params):
            pages += 1
            ids_read.update(_ids(page))
            good = split(page, rules, "connectwise", name, rejected, known_types)
            if good:
                yield [_prepare(r, datetimes) for r in good]
        read_s = time.monotonic() - started
        if sweep:
            check = _check_deletions(http, path, name, ids_read, complete, deletions, sweep_days)
        else:
            check = {"how": "off"}
        check.update(
            requests=http.requests, pages=pages, rows_read=len(ids_read), read_s=round(read_s, 3)
        )
        deletions.checked(name, **check)

    return records


def _ids(page: Any) -> set[int]:
    return {r["id"] for r in page if isinstance(r, dict) and isinstance(r.get("id"), int)}


def _sweep(http: SourceClient, path: str) -> tuple[set[int], int]:
    """Every id that exists now (`fields=id`, all pages) and the pages it took."""
    ids: set[int] = set()
    pages = 0
    for page in http.paginate(path, params=_list_params(fields="id")):
        pages += 1
        ids.update(_ids(page))
    return ids, pages


def _narrow(
    http: SourceClient, path: str, expected: set[int]
) -> tuple[set[int], list[tuple[int, int]], int, int]:
    """The ids that exist now in the id ranges where they can differ.

    `expected` is what will be live here after the load. The id range is halved
    (by the expected ids) while the source's `/count` of a half differs from
    the expected ids in it; a half with at most a page of expected ids is swept
    (`fields=id` with the range as conditions), a half whose count is equal is
    taken as it is expected (and not judged). Returns (ids found in the swept
    ranges, those ranges, pages read, count requests)."""
    ordered = sorted(expected)
    present: set[int] = set()
    swept: list[tuple[int, int]] = []
    pages = counts = 0

    def condition(lo: int, hi: int) -> str:
        return f"id >= {lo} and id <= {hi}"

    def visit(lo_index: int, hi_index: int, lo: int, hi: int, source_count: int | None) -> None:
        nonlocal pages, counts
        if source_count is None:
            counts += 1
            source_count = http.get_json(
                f"{path}/count", params={"conditions": condition(lo, hi)}
            ).get("count")
        mine = hi_index - lo_index
        if source_count == mine:
            return
        if mine <= CW_PAGE_SIZE:
            params = _list_params(fields="id", conditions=condition(lo, hi))
            for page in http.paginate(path, params=params):
                pages += 1
                present.update(_ids(page))
            swept.append((lo, hi))
            return
        middle = (lo_index + hi_index) // 2
        visit(lo_index, middle, lo, ordered[middle] - 1, None)
        visit(middle, hi_index, ordered[middle], hi, None)

    # the whole id range (records beyond it are new: the next incremental read has them)
    visit(0, len(ordered), 0, ordered[-1], None)
    return present, swept, pages, counts


def sweep_due(last: str | None, now: datetime, every_days: float) -> bool:
    """A full id sweep is due when none is recorded or the last is `every_days` old."""
    if not last:
        return True
    try:
        when = datetime.fromisoformat(last)
    except ValueError:
        return True
    return now - when >= timedelta(days=every_days)


def _check_deletions(
    http: SourceClient,
    path: str,
    name: str,
    ids_read: set[int],
    complete: bool,
    deletions: Deletions,
    every_days: float,
) -> dict[str, Any]:
    """Learn which records are gone at the source, as cheaply as is safe:

    - a complete read (first run, `--full`) is itself the sweep;
    - else, unless a full sweep is due (none in `every_days`), the source's
      `/count` is compared with the rows live after this load: equal means no
      record is gone (every record the source has is live here, so the same
      number means the same set), and no id is read;
    - when the count differs, only the id ranges whose counts differ are read
      (`_narrow`); when the table is new or the full sweep is due, every id.

    A deletion is thus found by the next refresh, and at the latest by the
    scheduled sweep (`QBR_DELETION_SWEEP_DAYS`) when a count cannot show it
    (a record marked deleted by mistake that came back unchanged)."""
    started = time.monotonic()
    state = dlt.current.resource_state()
    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    if complete:
        deletions.swept(name, ids_read)
        out["how"] = "complete read"
    else:
        due = sweep_due(state.get("full_sweep_at"), now, every_days)
        if not due:
            source_count = http.get_json(f"{path}/count").get("count")
            live = deletions.live_after(name, ids_read)
            out.update(source_count=source_count, live_after_load=live)
            if live is not None and source_count == live:
                out["how"] = "count equal"
                out["check_s"] = round(time.monotonic() - started, 3)
                return out
        expected = set() if due or live is None else deletions.live_ids(name) | ids_read
        if not expected:
            ids, pages = _sweep(http, path)
            how = "scheduled sweep" if due else "sweep (count differs)"
            if not due and live is None:
                how = "sweep (new table)"
            out.update(how=how, sweep_pages=pages)
            deletions.swept(name, ids)
        else:
            ids, ranges, pages, counts = _narrow(http, path, expected)
            out.update(
                how="sweep (count differs)",
                sweep_pages=pages,
                range_counts=counts,
                swept_ranges=len(ranges),
            )
            deletions.swept(name, ids, ranges=ranges)
        if not due:
            out["check_s"] = round(time.monotonic() - started, 3)
            return out  # a narrowed sweep is no full sweep: the schedule stands
    state["full_sweep_at"] = now.isoformat()
    out["check_s"] = round(time.monotonic() - started, 3)
    return out


def run(
    settings: Any,
    config: Mapping[str, Any] | None,
    *,
    full: bool = False,
    since: Any = None,
    **options: Any,
) -> Any:
    """The `connectwise` refresh step (see dlt_pipelines/runner.py)."""
    kwargs = dict(config or {})
    start = month_start_utc(since, settings.timezone) if since else None

    options.setdefault("sweep_days", settings.deletion_sweep_days)

    def build(context: Any) -> Any:
        return connectwise_source(
            **kwargs,
            full=full,
            since=start,
            deletions=context.deletions,
            rejected=context.rejected,
            known_types=context.known_types,
            **options,
        )

    return run_source(settings, "connectwise", build, label=LABEL)
