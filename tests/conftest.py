import pytest
from django.db import connection

from .factories import FACTORIES, MemberFactory, StaffFactory


@pytest.fixture
def staff(db):
    return StaffFactory(username="console-staff")


@pytest.fixture
def member(db):
    return MemberFactory(username="plain-member")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def api_client(staff):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(staff)
    return api


@pytest.fixture
def factories():
    return FACTORIES


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # Tests create many users; the production hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
