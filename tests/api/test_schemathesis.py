"""Property-based run of schemathesis against /openapi.json, in process (WSGI).

Every operation gets generated requests, valid (positive) and invalid
(negative) data, with an admin key, over a database of its own. Checks: no
5xx, every status declared, content types, headers and bodies conform to the
spec, invalid data is rejected with a 4xx. Examples are bounded so the run
takes well under a minute.

Hypothesis is driven directly (one @given per operation and mode) rather than
through `schema.parametrize()`, whose lazy fixture loader relies on a pytest
private attribute that pytest 9 no longer has.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import qbr.refresh

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 12}


@pytest.fixture(scope="module")
def fuzz_api(make_api):
    admin, _, _ = make_api()
    return admin


def _run(operation, mode: GenerationMode, headers: dict) -> None:
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_spec(fuzz_api, monkeypatch, mode):
    monkeypatch.setattr(
        qbr.refresh,
        "start_background",
        lambda *a, **k: "bc_01JD0000000000000000000FUZ",
        raising=False,
    )
    schema = schemathesis.openapi.from_wsgi(
        "/api/qbr/openapi.json", fuzz_api.app, headers=fuzz_api.headers
    )
    failures, ran = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        ran += 1
        try:
            _run(operation, mode, fuzz_api.headers)
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:  # collect every failure, report all
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert ran >= 20
    assert not failures, "\n\n".join(failures)
