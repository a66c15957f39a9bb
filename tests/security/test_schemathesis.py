"""schemathesis over the live schema, with its conformance checks, not only "no 5xx".

Every answer must be documented: its status code, content type, headers and body schema. Before,
the households 422 contradicted the schema (``detail: array`` documented, ``detail: str`` sent).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Service, start_service, valid_household

ROLE_BY_PATH = {"/v1/score": "scorer", "/v1/households/{household_id}/decisions": "inspector",
                "/v1/models": "analyst", "/v1/grievances": "officer"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def fuzzed(tmp_path: Path, model_scorer: Any) -> Iterator[Service]:
    # A high failure limit: the fuzzer sends wrong keys on purpose (the limit has its own test).
    yield from start_service(tmp_path, model_scorer, max_batch=5, auth_max_failures=10_000)


def test_every_answer_conforms_to_the_schema(fuzzed: Service) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE),
                      schema.as_strategy(GenerationMode.NEGATIVE))
    statuses: dict[tuple[str, str], set[int]] = {}

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    @given(case=cases, authenticated=st.booleans())
    def run(case: Any, authenticated: bool) -> None:
        role = ROLE_BY_PATH.get(case.path)
        headers = fuzzed.headers(role) if role and authenticated else {}
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        statuses.setdefault((case.method, case.path), set()).add(response.status_code)

    run()
    # Generated households rarely pass the contract's cross-column checks, so whether a derandomised
    # run draws one depends on the schema's field list (and it did not on CI): one hand-made valid
    # household, sent and checked the same way, makes sure the accepted answer conforms as well.
    score = schema["/v1/score"]["POST"]
    for body in ({"households": [valid_household(1)]},
                 {"households": [valid_household(1, floor_material="earth")], "lang": "en"}):
        case = score.Case(body=body, media_type="application/json")
        headers = fuzzed.headers("scorer")
        response = case.call(headers=headers)
        assert response.status_code == 200, response.text
        case.validate_response(response, checks=CHECKS, headers=headers)
        statuses.setdefault(("POST", "/v1/score"), set()).add(response.status_code)
    grievance = schema["/v1/grievances"]["POST"]
    case = grievance.Case(body={"household_id": "H0001", "corrections": {"floor_material": "tile_ceramic"},
                                "reported_by": "petugas", "reported_on": "2026-11-20", "channel": "dinsos"},
                          media_type="application/json")
    response = case.call(headers=fuzzed.headers("officer"))
    assert response.status_code == 201, response.text
    case.validate_response(response, checks=CHECKS, headers=fuzzed.headers("officer"))
    statuses.setdefault(("POST", "/v1/grievances"), set()).add(response.status_code)
    # Which operations a derandomised run draws depends on the other tests' state in the same worker
    # (it drew five of six in the full suite): each GET is also called once by hand and checked.
    gets = {"/health": None, "/ready": None, "/v1/models": "analyst",
            "/v1/households/{household_id}/decisions": "inspector"}
    for path, role in gets.items():
        op = schema[path]["GET"]
        case = op.Case(path_parameters={"household_id": "H0001"} if "{" in path else None)
        headers = fuzzed.headers(role) if role else {}
        response = case.call(headers=headers)
        assert response.status_code == 200, (path, response.text)
        case.validate_response(response, checks=CHECKS, headers=headers)
        statuses.setdefault(("GET", path), set()).add(response.status_code)
    # A refused and an unauthenticated score, by hand too: their answers must conform as well.
    for body, headers, expected in (({"households": [valid_household(1, floor_material="marmer_emas")]},
                                      fuzzed.headers("scorer"), 422),
                                     ({"households": [valid_household(1)]}, {}, 401)):
        case = score.Case(body=body, media_type="application/json")
        response = case.call(headers=headers)
        assert response.status_code == expected, response.text
        case.validate_response(response, checks=CHECKS, headers=headers)
        statuses[("POST", "/v1/score")].add(response.status_code)
    # Every operation was exercised (/health, /ready, models, history, score, grievances).
    assert len(statuses) == 6, statuses
    assert {200, 422} <= statuses[("POST", "/v1/score")], statuses
    assert 401 in statuses[("POST", "/v1/score")], statuses
