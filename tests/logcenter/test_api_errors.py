"""One exception handler turns a bad log query or stats parameter into an HTTP 400 on every
API view ({parameter: [reasons]}), with no view catching it itself."""

import ast
from pathlib import Path

import pytest

from logcenter.core.registry import registry

pytestmark = pytest.mark.django_db

API = Path(__file__).resolve().parents[2] / "logcenter" / "api"


@pytest.mark.parametrize("kind", [kind.slug for kind in registry])
def test_a_bad_filter_is_400_on_every_list(api_client, kind):
    response = api_client.get(f"/api/v1/{registry[kind].api_name}/",
                              {"start_time": "not-a-time"})
    assert response.status_code == 400
    assert list(response.json()) == ["start_time"]


@pytest.mark.parametrize("url, query, field", [
    ("/api/v1/usage/stats/", {"start_time": "not-a-time"}, "start_time"),
    ("/api/v1/usage/buckets/", {"bucket_width": "1w"}, "bucket_width"),
    ("/api/v1/usage/buckets/", {"limit": "many"}, "limit"),
    ("/api/v1/usage/buckets/", {"group_by": "nothing"}, "group_by"),
])
def test_a_bad_stats_parameter_is_400(api_client, url, query, field):
    response = api_client.get(url, query)
    assert response.status_code == 400
    assert field in response.json() and response.json()[field]


def test_a_bad_export_filter_is_400(api_client):
    response = api_client.post("/api/v1/exports/", {
        "kind": "usage", "format": "csv", "filters": {"start_time": "not-a-time"}},
        format="json")
    assert response.status_code == 400 and "start_time" in response.json()


def test_no_api_view_converts_query_errors_itself():
    """The conversion lives in logcenter.api.exceptions alone."""
    for path in API.glob("*.py"):
        if path.name == "exceptions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = ast.unparse(node.type)
                assert "InvalidLogQuery" not in caught and "StatsError" not in caught, (
                    f"{path.name}:{node.lineno} catches {caught}")
