"""Every model registered in the Django admin, every change its pages can make (add, each
editable field of the change form, delete, each action, each extra view such as a user's
password page): each writes an audit event naming the actor by username, the resource by
id and name, and the before/after values.

Registering a model in the admin without auditing it (logcenter.core.admin_audit.register) and
a sample here, or giving an admin a view of its own the walk does not exercise, fails.
"""

import itertools
import json
from datetime import timedelta

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import FieldDoesNotExist
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, Membership, Organization, Plan, Project, User
from logcenter.core.admin_audit import REGISTRY
from logcenter.models import AuditEvent
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Walk-Password-9431"


def _sample_user(n):
    return MemberFactory(username=f"walked{n}", display_name=f"Walked {n}")


def _sample_key(n):
    # An ingest key, so both its scopes and its kinds have changes the form accepts; and a
    # project to move it to.
    organization = Organization.objects.create(
        name=f"Walk org {n}", slug=f"walk-org-{n}", plan=Plan.objects.get(slug="pro"))
    Project.objects.create(organization=organization, name="Default", slug="default",
                           is_default=True)
    return ApiKey.generate(owner=MemberFactory(username=f"keyowner{n}"), name=f"walk key {n}",
                           scopes=["ingest", "read"], kinds=["usage"])[0]


def _sample_role(n):
    role = Group.objects.create(name=f"Walk role {n}")
    role.permissions.add(Permission.objects.get(codename="view_auditevent"))
    role.user_set.add(MemberFactory(username=f"holder{n}"))
    return role


def _sample_organization(n):
    organization = Organization.objects.create(
        name=f"Walk org {n}", slug=f"walk-org-{n}", plan=Plan.objects.get(slug="free"))
    Project.objects.create(organization=organization, name="Default", slug="default",
                           is_default=True)
    return organization


def _sample_project(n):
    # Not the default project, which may be neither deleted nor undone as the default.
    return Project.objects.create(organization=_sample_organization(n), name=f"Walk {n}",
                                  slug=f"walk-{n}")


def _sample_membership(n):
    # And a person in no organization yet, for the add form to choose.
    MemberFactory(username=f"joiner{n}")
    return Membership.objects.create(user=MemberFactory(username=f"orgmember{n}"),
                                     organization=_sample_organization(n), role="auditor")


def _sample_plan(n):
    return Plan.objects.create(slug=f"walk-{n}", name=f"Walk plan {n}",
                               retention_days={"audit": 30, "usage": None},
                               export_formats=["csv"], position=50 + n)


# One object to change, per model registered in the admin.
SAMPLES = {User: _sample_user, ApiKey: _sample_key, Group: _sample_role,
           Organization: _sample_organization, Project: _sample_project,
           Membership: _sample_membership, Plan: _sample_plan}


def _password_page(obj):
    """The admin's "change password" page of a user: set a new one, or disable it."""
    url = reverse("admin:auth_user_password_change", args=[obj.pk])
    return [("set a password", {"usable_password": "true", "password1": PASSWORD,
                                 "password2": PASSWORD}, url),
            ("disable password sign-in", {"usable_password": "false",
                                          "unset-password": "1"}, url)]


# Admin views beyond add/change/delete/history/changelist: {url name: changes to post}.
EXTRA_VIEWS = {"auth_user_password_change": _password_page}
STANDARD_VIEWS = ("changelist", "add", "history", "delete", "change")

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
IDS = [model._meta.label for model, _ in REGISTERED]


@pytest.fixture
def walker(client):
    user = StaffFactory(username="walker", is_superuser=True)
    client.force_login(user)
    return user


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _events_during(action):
    seen = set(AuditEvent.objects.values_list("id", flat=True))
    response = action()
    return response, list(AuditEvent.objects.exclude(id__in=seen).order_by("id"))


def _widget(field):
    widget = field.widget
    while isinstance(widget, RelatedFieldWidgetWrapper):
        widget = widget.widget
    return widget


def _encode(bound, value):
    """POST data for `value` in `bound`'s field, as a browser sends it."""
    name, widget = bound.html_name, _widget(bound.field)
    if isinstance(widget, forms.MultiWidget):
        parts = value if isinstance(value, (list, tuple)) else widget.decompress(value)
        data = {}
        for suffix, sub, part in zip(widget.widgets_names, widget.widgets, parts, strict=True):
            if isinstance(sub, forms.TimeInput) and part is not None:
                data[name + suffix] = part.strftime("%H:%M:%S.%f")  # keep the microseconds
            else:
                data[name + suffix] = sub.format_value(part) or ""
        return data
    if isinstance(widget, forms.CheckboxInput):
        return {name: "on"} if value else {}
    if getattr(widget, "allow_multiple_selected", False):
        return {name: [str(v) for v in value or []]}
    if value is None:
        return {name: ""}
    formatted = widget.format_value(value)
    if isinstance(formatted, list):
        formatted = formatted[0] if formatted else ""
    return {name: "" if formatted is None else formatted}


def _form_data(form):
    data = {}
    for name, field in form.fields.items():
        if not field.disabled:
            data.update(_encode(form[name], form[name].value()))
    return data


def _other_values(bound):
    """Values different from the field's current one, each a change the form allows."""
    field, current = bound.field, bound.value()
    if isinstance(field, forms.ModelMultipleChoiceField):
        have = {str(v) for v in current or []}
        more = {str(pk) for pk in field.queryset.exclude(pk__in=have)
                .values_list("pk", flat=True)[:1]}
        yield sorted(have | more)  # widened
        if have:
            yield sorted(have - {min(have)} | more)  # one swapped for another
            yield []  # narrowed to nothing
    elif isinstance(field, forms.ModelChoiceField):
        yield from (str(pk) for pk in field.queryset.exclude(pk=current)
                    .values_list("pk", flat=True)[:1])
    elif isinstance(field, forms.MultipleChoiceField):
        have = set(current or [])
        for value, _ in field.choices:
            yield sorted(have ^ {value})
    elif isinstance(field, forms.BooleanField):
        yield not current
    elif isinstance(field, forms.ChoiceField):
        yield from (value for value, _ in field.choices if value not in ("", current))
    elif isinstance(field, forms.SplitDateTimeField):
        yield (current or timezone.now()) - timedelta(days=1, seconds=7)
    elif isinstance(field, forms.JSONField):
        have = json.loads(current) if current else []
        if isinstance(have, list):
            for token in ("usage", "read", "walk"):
                yield json.dumps(sorted(set(have) ^ {token}))
        if isinstance(have, dict) and have:  # one number in it changed (a plan's days)
            key = sorted(have)[0]
            yield json.dumps({**have, key: (have[key] or 0) + 1})
        yield json.dumps({"walk": True})
    elif isinstance(field, forms.EmailField):
        yield f"walk-{current}"
    elif isinstance(field, forms.IntegerField):
        yield (current or 0) + 1
    elif isinstance(field, forms.CharField):
        yield ((current or "") + "w")[-(field.max_length or 100):]
    else:
        raise AssertionError(f"the walk cannot change a {type(field).__name__}: teach it")


def _shown(spec, obj, name):
    """What the audit event should say `obj`'s field `name` is now."""
    for rel in spec.relations:
        if rel.field == name:
            return rel.key, rel.names(getattr(obj, name))
    field = obj._meta.get_field(name)
    if field.is_relation:
        related = getattr(obj, name)
        value = (None if related is None else related.get_username()
                 if hasattr(related, "get_username") else str(related))
    else:
        value = getattr(obj, field.attname)
        value = value.isoformat() if hasattr(value, "isoformat") else value
    return spec.secret.get(name, name), value


def _check_event(event, spec, obj, actor, action=None):
    problems = []
    if event.actor_name != actor.username or event.actor_type != "user":
        problems.append(f"actor {event.actor_type}:{event.actor_name}")
    if (event.resource_type, event.resource_id, event.resource_name) != (
            spec.resource_type, str(spec.resource_id(obj)), str(spec.resource_name(obj))):
        problems.append(f"resource {event.resource_type} {event.resource_id} "
                        f"{event.resource_name!r}")
    if event.details.get("via") != "admin":
        problems.append(f"via {event.details.get('via')!r}")
    if action is not None and event.action != action:
        problems.append(f"action {event.action} (expected {action})")
    return problems


def test_every_model_in_the_admin_is_audited_and_has_a_sample():
    for model, _ in REGISTERED:
        assert model in REGISTRY, (
            f"{model._meta.label} is in the Django admin but not audited: register it "
            "with logcenter.core.admin_audit.register")
        assert model in SAMPLES, f"add a sample {model._meta.label} to SAMPLES in this test"


@pytest.mark.parametrize("model,model_admin", REGISTERED, ids=IDS)
def test_adding_in_the_admin_is_audited(client, walker, model, model_admin):
    request = _request(walker)
    if not model_admin.has_add_permission(request):
        pytest.skip(f"{model._meta.label} cannot be added in the admin")
    spec = REGISTRY[model]
    SAMPLES[model](0)  # what the new object may refer to (an organization for a project)
    form = model_admin.get_form(request, None, change=False)()
    data, filled = _form_data(form), set()
    for name, field in form.fields.items():
        if field.disabled:
            continue
        if isinstance(_widget(field), forms.PasswordInput):
            data[name] = PASSWORD
        elif isinstance(field, forms.ModelMultipleChoiceField):
            data.update(_encode(form[name], next(_other_values(form[name]))))
            filled.add(name)
        elif isinstance(field, forms.ModelChoiceField) and field.required and not data.get(name):
            data.update(_encode(form[name], next(_other_values(form[name]))))
        elif field.required and not data.get(name):
            data[name] = f"walk-added-{name}"[:field.max_length or 100]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    response, events = _events_during(lambda: client.post(url, {**data, "_save": "1"}))
    assert response.status_code == 302, response.context and response.context.get("errors")
    obj = model.objects.latest("pk")
    created = [e for e in events if e.action == spec.created]
    assert len(created) == 1, [e.action for e in events]
    assert _check_event(created[0], spec, obj, walker) == []
    assert all(change["before"] is None for change in created[0].changes.values())
    for name in filled:  # each relation the add form set: one event
        key, now = _shown(spec, obj, name)
        assert [e.changes for e in events if key in e.changes and e is not created[0]] == [
            {key: {"before": [], "after": now}}]


@pytest.mark.parametrize("model,model_admin", REGISTERED, ids=IDS)
def test_each_field_changed_in_the_admin_is_audited(client, walker, model, model_admin):
    spec, request, failures = REGISTRY[model], _request(walker), []
    url_name = f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
    samples = itertools.count()

    def fresh():
        obj = SAMPLES[model](next(samples))
        return obj, model_admin.get_form(request, obj, change=True)(instance=obj)

    names = [name for name, field in fresh()[1].fields.items() if not field.disabled]
    for name in names:
        try:
            model._meta.get_field(name)
        except FieldDoesNotExist:
            failures.append(f"{name}: not a model field; teach the walk what it changes")
            continue
        accepted = 0
        for i in itertools.count():
            obj, form = fresh()
            candidates = list(_other_values(form[name]))
            if i >= len(candidates):
                break
            value = candidates[i]
            key, old = _shown(spec, obj, name)
            data = {key: posted for key, posted in _form_data(form).items()
                    if key not in _encode(form[name], form[name].value())}
            data.update(_encode(form[name], value), _save="1")
            response, events = _events_during(
                lambda obj=obj, data=data: client.post(reverse(url_name, args=[obj.pk]), data))
            if response.status_code != 302:
                continue  # the form refuses this value: try the next one
            accepted += 1
            obj = model._base_manager.get(pk=obj.pk)
            _, new = _shown(spec, obj, name)
            if old == new:
                failures.append(f"{name}={value!r}: nothing changed; fix the walk")
            elif len(events) != 1:
                failures.append(f"{name}={value!r}: {[e.action for e in events]}, not one event")
            else:
                problems = _check_event(events[0], spec, obj, walker)
                expected = ({"before": "[redacted]", "after": "[redacted]"}
                            if key in spec.secret.values() else {"before": old, "after": new})
                # Besides the field, only what follows from it (a revocation's revoked_at).
                others = set(events[0].changes) - {key}
                if events[0].changes.get(key) != expected or others & set(names):
                    problems.append(f"changes {events[0].changes} (expected {key}: {expected})")
                if problems:
                    failures.append(f"{name}={value!r} ({events[0].action}): "
                                    + "; ".join(problems))
            if not isinstance(form.fields[name], forms.ModelMultipleChoiceField):
                break  # one change per field; a relation widened and narrowed
        if not accepted:
            failures.append(f"{name}: the walk found no value the form accepts; teach it one")
    assert names and failures == []


@pytest.mark.parametrize("model,model_admin", REGISTERED, ids=IDS)
def test_deleting_in_the_admin_is_audited(client, walker, model, model_admin):
    if not model_admin.has_delete_permission(_request(walker)):
        pytest.skip(f"{model._meta.label} cannot be deleted in the admin")
    spec, obj = REGISTRY[model], SAMPLES[model](1)
    resource = (spec.resource_id(obj), spec.resource_name(obj))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_delete",
                  args=[obj.pk])
    response, events = _events_during(lambda: client.post(url, {"post": "yes"}))
    assert response.status_code == 302 and not model.objects.filter(pk=obj.pk).exists()
    deleted = [e for e in events if (e.resource_type, e.resource_id) == (
        spec.resource_type, str(resource[0]))]
    assert [e.action for e in deleted] == [spec.deleted]
    assert deleted[0].resource_name == resource[1] and deleted[0].actor_name == "walker"
    assert deleted[0].changes and all(c["after"] is None for c in deleted[0].changes.values())


@pytest.mark.parametrize("model,model_admin", REGISTERED, ids=IDS)
def test_each_admin_action_is_audited(client, walker, model, model_admin):
    spec, request = REGISTRY[model], _request(walker)
    actions = model_admin.get_actions(request)
    assert actions
    changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for n, name in enumerate(actions, start=1):
        obj = SAMPLES[model](100 + n)
        resource = (str(spec.resource_id(obj)), str(spec.resource_name(obj)))
        response, events = _events_during(lambda obj=obj, name=name: client.post(changelist, {
            "action": name, ACTION_CHECKBOX_NAME: [obj.pk], "index": 0, "post": "yes"}))
        assert response.status_code == 302, name
        mine = [e for e in events if (e.resource_type, e.resource_id, e.resource_name)
                == (spec.resource_type, *resource)]
        assert len(mine) == 1, f"{name}: {[e.action for e in events]}"
        assert mine[0].actor_name == "walker" and mine[0].details["via"] == "admin"
        if name == "delete_selected":
            assert mine[0].action == spec.deleted


@pytest.mark.parametrize("model,model_admin", REGISTERED, ids=IDS)
def test_each_extra_admin_view_is_audited(client, walker, model, model_admin):
    info = f"{model._meta.app_label}_{model._meta.model_name}"
    extra = [p.name for p in model_admin.get_urls()
             if p.name and p.name not in {f"{info}_{view}" for view in STANDARD_VIEWS}]
    unknown = set(extra) - set(EXTRA_VIEWS)
    assert not unknown, f"admin views the walk does not exercise: {sorted(unknown)}"
    spec = REGISTRY[model]
    for view in extra:
        obj = SAMPLES[model](200)
        for label, data, url in EXTRA_VIEWS[view](obj):
            response, events = _events_during(lambda url=url, data=data: client.post(url, data))
            assert response.status_code == 302 and response["Location"] != url, label
            assert len(events) == 1, f"{label}: {[e.action for e in events]}"
            assert _check_event(events[0], spec, obj, walker) == [], label
            assert set(events[0].changes) <= {*spec.secret.values()}, events[0].changes
