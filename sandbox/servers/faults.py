"""Faults a test (or an operator) switches on at run time to see how a pipeline copes.

Each kind is one-shot or counted: it fires on the next matching requests and then
clears itself (``down`` lasts until cleared). ``path`` scopes a fault to requests
whose path contains that substring.

| kind             | options (defaults)                                   | effect |
|------------------|------------------------------------------------------|--------|
| rate_limit       | count=1, retry_after=1                               | 429 + ``Retry-After`` |
| server_error     | count=1, status=500                                  | 500 in the API's error shape |
| slow             | count=1, seconds=2.0                                 | sleep before answering |
| drop_connection  | count=1, page=1, mode="mid_response"|"no_response"   | on page ``page`` of a listing: half a body then the socket closes, or no response at all |
| expired_token    | count=1                                              | the presented token is treated as expired (401) |
| malformed_record | count=1, variants=missing_id,wrong_type,negative, same_id=False | the next listing also carries broken records (same_id: its first record arrives broken, keeping its id, instead of clean) |
| down             | mode="reset"|"503"                                   | every request: connection closed without response, or 503; until cleared |
| slow_token       | count=1, seconds=2.0                                 | QuickBooks token endpoint: rotates the refresh token *first*, then answers ``seconds`` late (a client that timed out never sees the new token) |
| lenient_tokens   | grace=600                                            | QuickBooks token endpoint, until cleared: a refresh token rotated less than ``grace`` seconds ago is still accepted and answered with the same new refresh token (a lenient provider; without it the sandbox is strict: the old token dies at once) |
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

MALFORMED_VARIANTS = ("missing_id", "wrong_type", "negative")

KINDS: dict[str, dict[str, Any]] = {
    "rate_limit": {"count": 1, "retry_after": 1},
    "server_error": {"count": 1, "status": 500},
    "slow": {"count": 1, "seconds": 2.0},
    "drop_connection": {"count": 1, "page": 1, "mode": "mid_response"},
    "expired_token": {"count": 1},
    "malformed_record": {"count": 1, "variants": list(MALFORMED_VARIANTS), "same_id": False},
    "down": {"count": None, "mode": "reset"},
    "slow_token": {"count": 1, "seconds": 2.0},
    "lenient_tokens": {"count": None, "grace": 600.0},
}
_MODES = {"drop_connection": {"mid_response", "no_response"}, "down": {"reset", "503"}}


@dataclass
class Fault:
    kind: str
    remaining: int | None  # None = until cleared
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def matches(self, path: str) -> bool:
        return self.path is None or self.path in path

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "path": self.path,
            "fired": self.fired,
            **self.options,
        }


class Faults:
    """The faults of one server. Thread-safe; one active fault per kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self.history: list[dict[str, Any]] = []

    def set(self, kind: str, **opts: Any) -> dict[str, Any]:
        """Switch a fault on (replacing one of the same kind). Raises ValueError on
        an unknown kind or option."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        defaults = KINDS[kind]
        path = opts.pop("path", None)
        unknown = set(opts) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown option(s) for {kind}: {', '.join(sorted(unknown))}; "
                f"known: path, {', '.join(defaults)}"
            )
        merged = {**defaults, **{k: v for k, v in opts.items() if v is not None}}
        count = merged.pop("count")
        if count is not None:
            count = int(count)
            if count < 1:
                raise ValueError("count must be at least 1")
        options = self._check_options(kind, merged)
        fault = Fault(kind=kind, remaining=count, path=path or None, options=options)
        with self._lock:
            self._faults[kind] = fault
        return fault.as_dict()

    @staticmethod
    def _check_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
        if "mode" in options and options["mode"] not in _MODES[kind]:
            raise ValueError(f"{kind} mode must be one of {sorted(_MODES[kind])}")
        for key in ("retry_after", "page", "status"):
            if key in options:
                options[key] = int(options[key])
        for key in ("seconds", "grace"):
            if key in options:
                options[key] = float(options[key])
        if "page" in options and options["page"] < 1:
            raise ValueError("page must be at least 1")
        if "variants" in options:
            variants = options["variants"]
            if isinstance(variants, str):
                variants = [v.strip() for v in variants.split(",") if v.strip()]
            bad = set(variants) - set(MALFORMED_VARIANTS)
            if bad or not variants:
                raise ValueError(f"variants must be among {list(MALFORMED_VARIANTS)}")
            options["variants"] = list(variants)
        return options

    def clear(self, kind: str | None = None) -> None:
        with self._lock:
            if kind is None:
                self._faults.clear()
            else:
                self._faults.pop(kind, None)

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults.values()]

    def take(self, kind: str, path: str, page: int | None = None) -> dict[str, Any] | None:
        """Fire the fault of this kind if it applies to this request: returns its
        options (and uses one of its count), else None."""
        with self._lock:
            fault = self._faults.get(kind)
            if fault is None or not fault.matches(path):
                return None
            if kind == "drop_connection" and page != fault.options["page"]:
                return None
            fault.fired += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[kind]
            self.history.append({"kind": kind, "path": path})
            del self.history[:-100]
            return dict(fault.options)
