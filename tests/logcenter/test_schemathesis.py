"""Schemathesis over the whole OpenAPI schema: no generated request may get a 5xx, and
every response must match its documented schema.

Bounded so the suite stays fast: a fixed seed (derandomized Hypothesis), a few valid and a
few invalid examples per operation, as an administrator and as a member. The app is called
in-process through its WSGI handler, on the test database.
"""

import json

import pytest
from django.core.signals import request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from accounts.models import ApiKey
from tests.factories import FACTORIES, MemberFactory, StaffFactory

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("schemathesis")]
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}
CHECKS = [not_a_server_error, response_schema_conformance]


def _schema():
    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    document = json.loads(json.dumps(document, default=str))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


@pytest.fixture
def in_process_requests(settings):
    """Django's own test client keeps the test's transaction across requests the same way:
    the handler must not close the connection it runs in."""
    settings.ALLOWED_HOSTS = ["*"]
    request_started.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)


@pytest.mark.parametrize("role", ["Administrator", "Member"])
def test_no_generated_request_gets_a_5xx_or_breaks_the_schema(in_process_requests, role):
    factory = StaffFactory if role == "Administrator" else MemberFactory
    user = factory(username=f"fuzz-{role.lower()}")
    for make in FACTORIES.values():
        make.create_batch(2)
    FACTORIES["usage"](user_id=str(user.pk), username=user.username)
    _, secret = ApiKey.generate(owner=user, name="fuzz", scopes=["read", "ingest"],
                                 kinds=["audit", "auth", "system", "usage"])
    # identity: the app's WSGI test client would hand schemathesis the compressed bytes of a
    # JSON answer (test_stats.py checks the compression itself).
    headers = {"Authorization": f"Bearer {secret}", "Accept-Encoding": "identity"}

    ran, failures = 0, []
    for result in _schema().get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            cases = []

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                cases.append(case)
                response = case.call(headers=headers)
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except (Exception, BaseExceptionGroup) as failure:  # collected, told together
                    failures.append(f"{operation.label} [{mode.value}]: {failure}"[:2000])

            try:
                run()
            except Unsatisfiable:  # an operation without invalid inputs to make
                pass
            ran += len(cases)
    print(f"schemathesis ({role}): {ran} cases, {len(failures)} failed")
    assert ran > 100
    assert not failures, "\n\n".join(failures[:10])
