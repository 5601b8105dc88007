"""The Log streams pages: the destinations a user may manage with their health, a form to
create or change one, and a page per destination (its settings, health, cursor and recent
stream events) with its actions: pause, resume, replay, delete.

Who may do what is logcenter.streams.services' to say (platform administrators: every
destination; an organization's owners and admins: their organization's, when its plan
includes streaming); every write is one of its calls, permission-checked and audited.
Credentials are typed here and never shown again: the form's password inputs are never
filled in, and no page reads them back.
"""

import copy

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Organization
from logcenter.core.access import access_for, visible_kinds
from logcenter.core.params import page_takes
from logcenter.core.registry import registry
from logcenter.streams import delivery, services
from logcenter.streams.models import Destination
from logcenter.streams.protocols import CLASSES, protocol_class

STATUS_LABELS = {
    "running": _("Running"),
    "failing": _("Failing"),
    "paused": _("Paused"),
    "disabled": _("Disabled"),
}
STATUS_BADGES = {"running": "badge-success", "failing": "badge-failure",
                 "paused": "badge-warning", "disabled": "badge-debug"}
# A datetime-local input's value, and what people type where the browser has none.
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def available_types():
    """[(type, label, protocol class)] of the types whose sender loads here, in
    Destination.Type's order: a type whose module is missing is not offered."""
    found = []
    for value, label in Destination.Type.choices:
        if value not in CLASSES:
            continue
        try:
            cls = protocol_class(value)
        except ImportError:
            continue
        if cls is not None:
            found.append((value, label, cls))
    return found


def _type_class(type_):
    try:
        return protocol_class(type_)
    except ImportError:
        return None


def _plain(value):
    """An option's cleaned value as JSON stores it (numbers, text, booleans, lists)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value)


def _local_input():
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class DestinationForm(forms.Form):
    """A destination's settings. Each type's options and credentials are fields named
    `<type>__<name>`, grouped per type on the page (the selected type's group shows); only
    the selected type's are validated and saved."""

    name = forms.CharField(label=_("Name"), max_length=150)
    type = forms.ChoiceField(label=_("Type"))
    endpoint = forms.CharField(label=_("Endpoint"), max_length=500)
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name"), required=False,
        label=_("Organization"), empty_label=_("None: a platform destination"),
        help_text=_("Only this organization's rows are sent. None: every organization's "
                    "rows and the platform's own."))
    kinds = forms.MultipleChoiceField(
        label=_("Kinds of log"), required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "choice-list"}))
    event_patterns = forms.CharField(
        label=_("Event types"), required=False, max_length=1000,
        help_text=_("Comma-separated; a star stands for any part, e.g. auth.*, *.failure. "
                    "Empty: every event of the chosen kinds."))
    include_sensitive = forms.BooleanField(
        label=_("Send sensitive fields"), required=False,
        help_text=_("IP addresses, user agents and the like, unmasked. Otherwise they are "
                    "sent masked."))
    batch_size = forms.IntegerField(label=_("Batch size"), min_value=1,
                                    max_value=services.MAX_BATCH_SIZE, initial=500,
                                    help_text=_("Events per request, at most."))
    interval_seconds = forms.IntegerField(label=_("Interval (seconds)"), min_value=0,
                                          max_value=86400, initial=5,
                                          help_text=_("The wait between two deliveries once "
                                                      "caught up."))
    pause_after_minutes = forms.IntegerField(
        label=_("Pause after failing for (minutes)"), min_value=1, max_value=10080,
        initial=60, help_text=_("Then it stops trying until resumed; nothing is lost."))
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    start = forms.ChoiceField(
        label=_("Start from"), initial="now",
        choices=[("now", _("Now: only the events that come next")),
                 ("time", _("A time: every event since then, then what comes next"))],
        widget=forms.RadioSelect(attrs={"class": "choice-list"}))
    start_at = forms.DateTimeField(label=_("Start time"), required=False,
                                   input_formats=LOCAL_FORMATS, widget=_local_input())

    def __init__(self, *args, user, destination=None, selected_type=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.destination = user, destination
        self.types = available_types()
        self.fields["type"].choices = [(value, label) for value, label, _cls in self.types]
        if self.is_bound:
            selected_type = self.data.get("type")
        self.selected_type = (selected_type or (destination.type if destination else None)
                              or (self.types[0][0] if self.types else ""))
        if not self.is_bound:
            self.initial.setdefault("type", self.selected_type)
        # The kinds the user may read, and any the destination already sends (a save then
        # says why it may not keep one).
        kinds = [(kind.slug, kind.label) for kind in visible_kinds(user)]
        for slug in (destination.kinds if destination else []):
            if slug not in dict(kinds):
                kind = registry.get(slug)
                kinds.append((slug, kind.label if kind else slug))
        self.fields["kinds"].choices = kinds
        if not services.is_platform_manager(user):
            del self.fields["organization"]
        if destination is not None:
            del self.fields["start"], self.fields["start_at"]
        else:
            self.fields["start_at"].help_text = gettext("In your timezone ({zone}).").format(
                zone=timezone.get_current_timezone_name())
        self.groups = []  # (type, label, endpoint help, option names, credential names)
        stored_options = destination.options if destination else {}
        for value, label, cls in self.types:
            options, credentials = [], []
            for name, field in cls.option_fields.items():
                key = f"{value}__{name}"
                self.fields[key] = self._type_field(field, value)
                if destination is not None and destination.type == value and name in stored_options:
                    self.initial.setdefault(key, stored_options[name])
                options.append(key)
            for name, field in cls.credential_fields.items():
                key = f"{value}__{name}"
                field = self._type_field(field, value)
                field.widget = forms.PasswordInput(render_value=False,
                                                   attrs={"autocomplete": "new-password"})
                kept = (destination is not None and destination.type == value
                        and bool(destination.credentials))
                if kept:
                    field.required = False
                    field.help_text = " ".join(filter(None, (str(field.help_text), gettext(
                        "Stored encrypted and never shown again; leave empty to keep it."))))
                elif value != self.selected_type:
                    field.required = False
                self.fields[key] = field
                credentials.append(key)
            self.groups.append((value, label, cls.endpoint_help, options, credentials))

    def _type_field(self, field, type_):
        """A copy of a type's field (the class holds one for every form). The browser
        checks none of them: the groups of the types not chosen are hidden, and the
        server checks the chosen type's."""
        field = copy.deepcopy(field)
        if type_ != self.selected_type:
            field.required = False
        field.widget.use_required_attribute = lambda initial: False
        return field

    def other_type_fields(self):
        return [key for value, *_rest, options, credentials in self.groups
                if value != self.selected_type for key in (*options, *credentials)]

    def full_clean(self):
        """Another type's fields are not this destination's: their values (left behind
        when the type was changed) are never checked."""
        super().full_clean()
        if self._errors is not None:
            for key in self.other_type_fields():
                self._errors.pop(key, None)

    def clean_event_patterns(self):
        seen = []
        for part in self.cleaned_data["event_patterns"].split(","):
            part = part.strip()
            if part and part not in seen:
                seen.append(part)
        return seen

    def clean(self):
        data = super().clean()
        if data.get("start") == "time":
            start_at = data.get("start_at")
            if start_at is None:
                self.add_error("start_at", gettext("Give the time to start from."))
            elif start_at > timezone.now():
                self.add_error("start_at", gettext("Choose a time in the past."))
        return data

    def secrets_to_retype(self):
        """After an error: the chosen type's secrets that must be typed again (a password
        box is never filled in from what was sent)."""
        if not self.is_bound or not self.errors:
            return []
        return [self[key].label for value, *_rest, credentials in self.groups
                if value == self.selected_type for key in credentials
                if self.fields[key].required or self.data.get(key)]

    def groups_bound(self):
        """The per-type groups as the template shows them: bound fields."""
        return [{"type": value, "label": label, "endpoint_help": help_text,
                 "options": [self[key] for key in options],
                 "credentials": [self[key] for key in credentials],
                 "selected": value == self.selected_type}
                for value, label, help_text, options, credentials in self.groups]

    def values(self):
        """(values, credentials, start) for services.destination_save."""
        data = self.cleaned_data
        type_ = data["type"]
        cls = protocol_class(type_)
        options = {}
        for name in cls.option_fields:
            value = data.get(f"{type_}__{name}")
            if value not in (None, "", [], ()):
                options[name] = _plain(value)
        credentials = {name: data.get(f"{type_}__{name}") or ""
                       for name in cls.credential_fields}
        values = {name: data[name] for name in (
            "name", "type", "endpoint", "kinds", "event_patterns", "include_sensitive",
            "batch_size", "interval_seconds", "pause_after_minutes", "enabled")}
        values["options"] = options
        if "organization" in self.fields:
            values["organization"] = data.get("organization")
        start = data.get("start_at") if data.get("start") == "time" else None
        return values, credentials, start

    def add_service_errors(self, error):
        """A service's ValidationError under the fields it names (a type's credential or
        option by its own name), the rest above the form."""
        selected = self.cleaned_data.get("type") or self.selected_type
        for name, problems in getattr(error, "message_dict", {None: error.messages}).items():
            if name in self.fields:
                self.add_error(name, problems)
            elif f"{selected}__{name}" in self.fields:
                self.add_error(f"{selected}__{name}", problems)
            else:
                self.add_error(None, problems)


class ReplayForm(forms.Form):
    since = forms.DateTimeField(label=_("From a time"), required=False,
                                input_formats=LOCAL_FORMATS, widget=_local_input())
    cursor = forms.CharField(label=_("Or from a cursor"), required=False, max_length=2000,
                             widget=forms.TextInput(attrs={"placeholder": "usage:123,audit:4",
                                                           "spellcheck": "false"}),
                             help_text=_("kind:id for each kind to move; the others stay "
                                         "where they are."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["since"].help_text = gettext(
            "Every event that occurred since then is sent again. In your timezone "
            "({zone}).").format(zone=timezone.get_current_timezone_name())

    def clean(self):
        data = super().clean()
        if not self.errors and (data.get("since") is None) == (not data.get("cursor")):
            raise ValidationError(gettext("Give a time or a cursor to replay from, not both."))
        return data


# --- what the pages show ----------------------------------------------------------------

class Lag:
    """A destination's health as the pages say it."""

    def __init__(self, health):
        self.health = health

    @property
    def known(self):
        return self.health is not None

    @property
    def behind(self):
        return self.health.behind if self.health else None

    @property
    def behind_text(self):
        health = self.health
        if health is None:
            return ""
        if health.behind == 0:
            return gettext("Up to date")
        if health.behind_capped:
            return gettext("More than {count} events behind").format(
                count=intcomma(health.behind))
        return ngettext("{count} event behind", "{count} events behind",
                        health.behind).format(count=intcomma(health.behind))

    @property
    def age_text(self):
        """How old the oldest undelivered event is ("" when none waits)."""
        if self.health is None or self.health.oldest_undelivered_at is None:
            return ""
        if self.health.lag_seconds < 60:
            return gettext("oldest: under a minute ago")
        return gettext("oldest: {age} ago").format(
            age=timesince(self.health.oldest_undelivered_at))


LIST_HEALTH_CAP = 10_000


class StreamRow:
    """A destination with what the list and the page show about it."""

    def __init__(self, destination, cap=None):
        self.destination = destination
        self.status = destination.status
        self.status_label = STATUS_LABELS[self.status]
        self.badge = STATUS_BADGES[self.status]
        # The health is read as the owner sees the rows; an owner gone (deleted) leaves
        # no view to read it by: the destination is paused until someone takes it over.
        self.lag = Lag(delivery.health(destination, cap)
                       if destination.created_by_id is not None else None)


def _require_manager(user):
    if not services.can_manage_destinations(user):
        raise PermissionDenied(services.streaming_refusal(user)
                               or gettext("Your role may not manage log streams."))


def _destination(request, public_id):
    _require_manager(request.user)
    return get_object_or_404(services.manageable_destinations(request.user),
                             public_id=public_id)


def _detail_url(destination):
    return reverse("logcenter:stream", args=[destination.public_id])


@login_required
@page_takes()
def streams_page(request):
    """Every destination the user manages, with its status and lag."""
    _require_manager(request.user)
    # The list counts a backlog up to LIST_HEALTH_CAP each ("more than"); a destination's
    # own page counts up to the settings' HEALTH_COUNT_CAP.
    rows = [StreamRow(d, LIST_HEALTH_CAP)
            for d in services.manageable_destinations(request.user)]
    return render(request, "streams/list.html", {
        "rows": rows, "refusal": services.streaming_refusal(request.user),
        "platform": services.is_platform_manager(request.user)})


@login_required
@page_takes("type")
@require_http_methods(["GET", "POST"])
def stream_form(request, public_id=None):
    """Create (no public_id) or change a destination."""
    _require_manager(request.user)
    destination = None
    if public_id is not None:
        destination = get_object_or_404(services.manageable_destinations(request.user),
                                        public_id=public_id)
    refusal = services.streaming_refusal(request.user)
    if refusal:
        raise PermissionDenied(refusal)
    asked = request.GET.get("type")
    if asked and asked not in {value for value, _label, _cls in available_types()}:
        return render(request, "400.html", {"problem": gettext(
            "{type} is not a destination type offered here.").format(type=asked)}, status=400)
    initial = {}
    if destination is not None:
        initial = {"name": destination.name, "endpoint": destination.endpoint,
                   "organization": destination.organization, "kinds": destination.kinds,
                   "event_patterns": ", ".join(destination.event_patterns),
                   "include_sensitive": destination.include_sensitive,
                   "batch_size": destination.batch_size,
                   "interval_seconds": destination.interval_seconds,
                   "pause_after_minutes": destination.pause_after_minutes,
                   "enabled": destination.enabled}
    form = DestinationForm(request.POST or None, user=request.user, destination=destination,
                           selected_type=asked, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values, credentials, start = form.values()
            try:
                saved = services.destination_save(request.user, values,
                                                  credentials=credentials,
                                                  destination=destination, start=start)
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                message = (gettext("Destination {name} created.") if destination is None
                           else gettext("Destination {name} saved."))
                messages.success(request, message.format(name=saved.name))
                return redirect(_detail_url(saved))
        status = 400
    return render(request, "streams/form.html", {
        "form": form, "destination": destination,
        "title": (gettext("Change {name}").format(name=destination.name) if destination
                  else gettext("New destination"))}, status=status)


def _recent_events(user, destination):
    """The newest stream system events about the destination, as the user may read
    them, and the system list's address showing them all (None: no system tab)."""
    kind = registry.get("system")
    if kind is None:
        return [], None
    access = access_for(user, kind)
    if not access.can_view:
        return [], None
    rows = access.scope(kind.model.objects.filter(
        source="streams", resource_id=destination.public_id)).order_by("-occurred_at", "-id")
    link = (reverse("logcenter:list", args=[kind.slug]) + "?"
            + urlencode({"resource_id": destination.public_id}))
    return list(rows[:10]), link


def _audit_link(user, destination):
    kind = registry.get("audit")
    if kind is None or not access_for(user, kind).can_view:
        return None
    return (reverse("logcenter:list", args=[kind.slug]) + "?"
            + urlencode({"resource_id": destination.public_id}))


def _option_rows(destination):
    cls = _type_class(destination.type)
    fields = cls.option_fields if cls else {}
    return [(fields[name].label if name in fields and fields[name].label else name, value)
            for name, value in (destination.options or {}).items()]


def _render_detail(request, destination, replay_form=None, status=200):
    events, events_link = _recent_events(request.user, destination)
    kinds = [(registry[slug].label if registry.get(slug) else slug) for slug in destination.kinds]
    return render(request, "streams/detail.html", {
        "destination": destination, "row": StreamRow(destination),
        "cursor": services.cursor_text(destination.cursor), "kinds": kinds,
        "options": _option_rows(destination), "events": events, "events_link": events_link,
        "audit_link": _audit_link(request.user, destination),
        "refusal": services.streaming_refusal(request.user),
        "cannot_stream": delivery.refusal(destination),
        "replay_form": replay_form or ReplayForm(),
    }, status=status)


@login_required
@page_takes()
def stream_page(request, public_id):
    """One destination: settings (never its credentials), health, cursor, recent events
    and the actions."""
    return _render_detail(request, _destination(request, public_id))


@login_required
@require_POST
def stream_pause(request, public_id):
    destination = services.destination_pause(request.user, _destination(request, public_id))
    messages.success(request, gettext("{name} is paused; its cursor stays where it is.").format(
        name=destination.name))
    return redirect(_detail_url(destination))


@login_required
@require_POST
def stream_resume(request, public_id):
    destination = services.destination_resume(request.user, _destination(request, public_id))
    messages.success(request, gettext("{name} resumed: it delivers again from its cursor.")
                     .format(name=destination.name))
    return redirect(_detail_url(destination))


@login_required
@require_POST
def stream_replay(request, public_id):
    destination = _destination(request, public_id)
    form = ReplayForm(request.POST)
    if form.is_valid():
        try:
            destination = services.destination_replay(
                request.user, destination, since=form.cleaned_data["since"],
                cursor=form.cleaned_data["cursor"] or None)
        except ValidationError as error:
            for name, problems in getattr(error, "message_dict",
                                          {None: error.messages}).items():
                form.add_error(name if name in form.fields else None, problems)
        else:
            messages.success(request, gettext(
                "{name} replays from {cursor}.").format(
                    name=destination.name, cursor=services.cursor_text(destination.cursor)))
            return redirect(_detail_url(destination))
    return _render_detail(request, destination, replay_form=form, status=400)


@login_required
@page_takes()
@require_http_methods(["GET", "POST"])
def stream_delete(request, public_id):
    """Ask first (GET), then delete (POST)."""
    destination = _destination(request, public_id)
    if request.method == "POST":
        name = destination.name
        services.destination_delete(request.user, destination)
        messages.success(request, gettext("Destination {name} deleted.").format(name=name))
        return redirect("logcenter:streams")
    refusal = services.streaming_refusal(request.user)
    if refusal:
        raise PermissionDenied(refusal)
    return render(request, "streams/delete.html", {"destination": destination})
