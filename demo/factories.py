"""Factories for users and every log kind (factory-boy), for the tests and the demo.

Outside the runtime app, like the rest of the demo package: the tests import them through
tests.factories, a new kind's demo generator may build its rows on them (tests/fifth_kind).
A kind registered by another app brings its factory in that app's `factories` module.
"""

import hashlib
import random
import uuid
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from importlib import import_module

import factory
from django.utils import timezone

from accounts.models import User
from logcenter.models import AuditEvent, AuthEvent, SystemEvent, UsageRecord


def recent(minutes=60 * 12):
    return factory.LazyFunction(
        lambda: timezone.now() - timedelta(seconds=random.randint(1, minutes * 60))
    )


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class StaffFactory(UserFactory):
    """A console administrator (the Administrator role)."""

    is_staff = True
    username = factory.Sequence(lambda n: f"staff{n}")

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        if create:
            add_roles(obj, extracted or ["Administrator"])


class MemberFactory(UserFactory):
    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        if create:
            add_roles(obj, extracted or ["Member"])


def add_roles(user, roles):
    from django.contrib.auth.models import Group

    user.groups.add(*Group.objects.filter(name__in=roles))


class LogFactory(factory.django.DjangoModelFactory):
    event_id = factory.LazyFunction(uuid.uuid4)
    occurred_at = recent()
    actor_type = "user"
    actor_id = factory.Sequence(lambda n: str(1000 + n))
    actor_name = factory.Sequence(lambda n: f"actor{n}@example.com")
    ip = "203.0.113.7"
    user_agent = "Mozilla/5.0 (X11; Linux x86_64)"
    request_id = factory.LazyFunction(lambda: "req_" + uuid.uuid4().hex[:24])
    metadata = factory.LazyFunction(lambda: {"env": "prod"})


class AuditEventFactory(LogFactory):
    class Meta:
        model = AuditEvent

    action = factory.Iterator(["user.updated", "memory.write", "config.updated"])
    category = factory.LazyAttribute(lambda o: o.action.split(".")[0])
    resource_type = factory.LazyAttribute(lambda o: o.action.split(".")[0])
    resource_id = factory.Sequence(lambda n: f"res-{n}")
    resource_name = factory.Sequence(lambda n: f"Resource {n}")
    result = "success"
    changes = factory.LazyFunction(lambda: {"role": {"before": "member", "after": "finance"}})


class UsageRecordFactory(LogFactory):
    class Meta:
        model = UsageRecord

    actor_type = "api_key"
    user_id = factory.Sequence(lambda n: str(n % 7))
    username = factory.LazyAttribute(lambda o: f"member{o.user_id}")
    api_key_id = factory.LazyAttribute(lambda o: f"k{o.user_id}")
    api_key_name = factory.LazyAttribute(lambda o: f"key-of-{o.username}")
    group = "default"
    endpoint = "chat"
    platform_model = factory.Iterator(["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"])
    upstream_model = factory.LazyAttribute(lambda o: f"{o.platform_model}-upstream")
    upstream_name = factory.Iterator(["openai", "anthropic", "google"])
    channel_id = "ch-1"
    binding_code = "bind-1"
    protocol = "openai"
    billing_mode = "per_token"
    prompt_tokens = factory.LazyFunction(lambda: random.randint(10, 5000))
    completion_tokens = factory.LazyFunction(lambda: random.randint(1, 2000))
    cached_tokens = 0
    total_tokens = factory.LazyAttribute(lambda o: o.prompt_tokens + o.completion_tokens)
    cost = factory.LazyFunction(lambda: Decimal(random.randint(1, 10**7)) / Decimal(10**8))
    latency_ms = factory.LazyFunction(lambda: random.randint(50, 9000))
    is_stream = False
    status = "success"


class AuthEventFactory(LogFactory):
    class Meta:
        model = AuthEvent

    event = "login.succeeded"
    user_id = factory.Sequence(lambda n: str(n))
    username_attempted = factory.Sequence(lambda n: f"person{n}")
    identity_provider = "password"
    result = "success"
    session_key_hash = factory.LazyFunction(lambda: hashlib.sha256(uuid.uuid4().bytes).hexdigest())


class SystemEventFactory(LogFactory):
    class Meta:
        model = SystemEvent

    actor_type = "system"
    source = factory.Iterator(["exports", "vectorizer", "upstream"])
    event = "task.failed"
    level = "error"
    resource_type = "task"
    resource_id = factory.Sequence(lambda n: f"task-{n}")
    message = "Something failed"
    details = factory.LazyFunction(lambda: {"attempt": 1})


class _Factories(Mapping):
    """{kind slug: its factory}, for every registered kind: the LogFactory subclass whose
    model is the kind's, here or in the `factories` module of the kind's own app (a kind
    registered by another app, like tests/fifth_kind). A kind without one is missing here,
    which tests/logcenter/test_kinds.py reports."""

    def _factories(self):
        from logcenter.core.registry import registry

        for kind in registry:
            try:
                import_module(f"{kind.model._meta.app_config.name}.factories")
            except ModuleNotFoundError:
                pass
        by_model, pending = {}, list(LogFactory.__subclasses__())
        while pending:
            factory_class = pending.pop()
            pending += factory_class.__subclasses__()
            by_model.setdefault(factory_class._meta.model, factory_class)
        return {kind.slug: by_model[kind.model] for kind in registry if kind.model in by_model}

    def __getitem__(self, slug):
        return self._factories()[slug]

    def __iter__(self):
        return iter(self._factories())

    def __len__(self):
        return len(self._factories())


FACTORIES = _Factories()


def build_row(slug, **values):
    """An unsaved row of the kind `slug`, built by its factory from `values` (the demo's
    generators make their rows this way). A field the factory declares and `values` leave
    out takes the model's own default, not the factory's test-shaped one (a role change in
    every audit row's `changes`), so the demo's rows stay what its generators make them."""
    from django.core.exceptions import FieldDoesNotExist

    factory_class = FACTORIES[slug]
    model = factory_class._meta.model
    defaults = {}
    for name in factory_class._meta.declarations:
        if name in values:
            continue
        try:
            defaults[name] = model._meta.get_field(name).get_default()
        except FieldDoesNotExist:
            continue
    return factory_class.build(**defaults, **values)
