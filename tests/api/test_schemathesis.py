"""Property-based run of the OpenAPI schema (schemathesis): no request makes the service fail (5xx).

Cases come from ``schema.as_strategy`` under a plain Hypothesis ``@given``: schemathesis 4.32's
``pytest.from_fixture`` integration breaks under pytest 9.2 (it writes ``Function._nodeid``).
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
from schemathesis.checks import not_a_server_error

from tests.api.conftest import Service, start_service, valid_household

ROLE_BY_PATH = {"/v1/score": "scorer", "/v1/households/{household_id}/decisions": "inspector",
                "/v1/models": "analyst"}


@pytest.fixture
def fuzzed_service(tmp_path: Path, model_scorer: Any) -> Iterator[Service]:
    yield from start_service(tmp_path, model_scorer, max_batch=5)


def test_no_request_makes_the_service_fail(fuzzed_service: Service) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_service.app)
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE),
                      schema.as_strategy(GenerationMode.NEGATIVE))
    statuses: dict[tuple[str, str], set[int]] = {}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    @given(case=cases)
    def run(case: Any) -> None:
        role = ROLE_BY_PATH.get(case.path)
        headers = fuzzed_service.headers(role) if role else {}
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text)
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
        statuses.setdefault((case.method, case.path), set()).add(response.status_code)

    run()
    # Generated households rarely pass the contract's cross-column checks (about 1 in 40 positive
    # cases), so whether a derandomised run happens to draw one depends on the schema's field list;
    # one hand-made valid household makes sure the accepted path is exercised as well.
    accepted = fuzzed_service.score([valid_household(1)])
    statuses.setdefault(("POST", "/v1/score"), set()).add(accepted.status_code)
    # Every operation was exercised, scoring both accepted and refused.
    assert len(statuses) == 5, statuses
    assert {200, 422} <= statuses[("POST", "/v1/score")], statuses
