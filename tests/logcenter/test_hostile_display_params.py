"""Hostile values for the parameters of saved views, columns and suggestions: each is a 400
naming the parameter (or an empty answer where the value is merely unknown text), never a
500."""

import pytest

pytestmark = pytest.mark.django_db

HOSTILE = ["\x00", "1\x00", "NaN", "-1", "0001-01-01", "9" * 40, "1e309", "x" * 5_000, "%00"]


@pytest.mark.parametrize("value", HOSTILE)
def test_view_is_a_400_naming_it(staff_client, value):
    response = staff_client.get("/api/v1/usage-records/", {"view": value})
    assert response.status_code == 400 and "view" in response.json(), response.content[:200]


@pytest.mark.parametrize("value", HOSTILE)
def test_columns_is_a_400_naming_it(staff_client, value):
    response = staff_client.get("/api/v1/usage-records/", {"columns": value})
    assert response.status_code == 400 and "columns" in response.json(), response.content[:200]


@pytest.mark.parametrize("value", HOSTILE)
def test_suggestions_field_is_a_400_naming_it(staff_client, value):
    response = staff_client.get("/api/v1/usage-records/suggestions/", {"field": value})
    assert response.status_code == 400 and "field" in response.json(), response.content[:200]


@pytest.mark.parametrize("value", HOSTILE)
def test_suggestions_text_never_fails(staff_client, value):
    response = staff_client.get("/api/v1/usage-records/suggestions/",
                                {"field": "platform_model", "q": value})
    assert response.status_code in (200, 400), response.content[:200]
    if response.status_code == 400:
        assert "q" in response.json()


def test_an_unknown_parameter_beside_them_is_a_400(staff_client):
    response = staff_client.get("/api/v1/usage-records/suggestions/",
                                {"field": "platform_model", "bogus": "1"})
    assert response.status_code == 400
