"""The registry of log kinds: each kind is configuration for the shared machinery.

The generic list and detail views, the API viewsets, the URL patterns, exports, retention,
the roles' permissions, the charts and the append-only trigger's privileges all look a
kind up here; none of them knows a kind by name (docs/adding-a-kind.md).

This module imports nothing of the application, so that any module may import it: the
kinds are registered when their app is ready (the gateway's four in logcenter.kinds, from
LogcenterConfig.ready), as Django's admin registers models.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _



@dataclass(frozen=True)
class DetailSection:
    title: str
    fields: tuple


# A kind's permissions beyond Django's view: the rows of every user, sensitive fields unmasked,
# export (logcenter.models.log_permissions). A role granted FULL sees and exports everything.
FULL = ("view", "view_all", "view_sensitive", "export")


@dataclass(frozen=True)
class EventChart:
    """The chart above a kind's list: its events per hour or day, stacked by `field`.

    `only` keeps those values of the field (all of them when empty); `colours` gives values
    their colour, in legend order (the others take the palette's)."""

    field: str
    title: str
    only: tuple = ()
    colours: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class LogKind:
    slug: str  # URL segment: /logs/<slug>/
    label: str  # tab title
    api_name: str  # /api/v1/<api_name>/
    model: type
    filterset: type
    table: type
    serializer: type
    sections: tuple
    # Filter names shown on the page's filter bar, in order (the API accepts all).
    page_filters: tuple
    # The field naming the user a row belongs to (a member sees only their own rows).
    owner_field: str = "actor_id"
    # Masked for roles without view_sensitive_<model>.
    sensitive_fields: tuple = ("ip", "user_agent")
    # Sensitive fields shown plainly to a user who sees only their own rows (a member):
    # where they signed in or called from is no secret to them.
    owner_visible_fields: tuple = ("ip", "user_agent")
    # The field holding a console user's id (accounts.User pk): on the detail page it links
    # to that user's account page, for roles that may see it (accounts.selectors).
    account_field: str = ""
    # Left out entirely for roles without view_cost_<model> (usage only).
    cost_fields: tuple = ()
    # Charts above the list: "usage" (spend by model, top spenders), an EventChart, or none.
    charts: "str | EventChart" = ""
    # Days a row is kept when no one has set the kind's retention policy yet.
    retention_days: int = 90
    # What each console role (accounts.roles) may do with this kind beyond nothing: role
    # name -> actions (FULL, or some of them; "view" alone: a member's own rows). The
    # Administrator role holds every permission of every kind and is not named here.
    grants: dict = field(default_factory=dict, hash=False)
    # Opening a row's detail writes an audit event (who looked at which audit record).
    audit_detail_views: bool = False
    description: str = ""
    # Usage shows requests / tokens / cost of the filter (read with its "usage" charts).
    summary: bool = False
    # Filters whose known values the filter bar suggests (GET /api/v1/<api_name>/suggestions/):
    # a choice filter offers its choices; the others the values a beat job collects
    # (logcenter.analytics.known_values), shown to roles that see every row of the kind.
    suggestions: tuple = ()
    # A member's own values: "app_label.Model" of a table with `owner_field`, `hour` and the
    # suggested fields as columns (usage: its hourly rollup), read for their rows only.
    own_values: str = ""
    # The two or three filters this kind's readers use most: always in view on the filter
    # bar (beside the time window and the search); the rest of page_filters sit under
    # "More filters". Empty: the first two of page_filters.
    primary_filters: tuple = ()
    # How some fields' values read, by field name: "money" (the one cost format,
    # logcenter.core.units), "quota", "credits", "ms", "stream" (streamed or not, neutral).
    units: dict = field(default_factory=dict, hash=False)
    # How a row reads as a canonical event (logcenter.core.events.EventForm), for the
    # cross-kind timeline and the faces that speak one event format; None: the envelope's.
    event_form: object = None

    @property
    def model_name(self):
        return self.model._meta.model_name

    def perm(self, action):
        """'logcenter.<action>_<model>', e.g. perm("export")."""
        return f"{self.model._meta.app_label}.{action}_{self.model_name}"

    @property
    def actions(self):
        """Every permission of the kind, as actions: "view" and each of its model's own
        (export, view_sensitive, view_all, and view_cost, view_stats for usage)."""
        suffix = f"_{self.model_name}"
        return ("view", *(codename.removesuffix(suffix)
                          for codename, _ in self.model._meta.permissions))

    @property
    def bar_filters(self):
        """The filters always in view on the filter bar (search comes on its own)."""
        names = self.primary_filters or tuple(n for n in self.page_filters if n != "q")[:2]
        return tuple(n for n in names if n != "q")

    @property
    def sorts(self):
        return self.filterset.sorts

    @property
    def verbose_name(self):
        return self.model._meta.verbose_name


ENVELOPE_ACTOR = DetailSection(_("Actor"), ("actor_type", "actor_id", "actor_name"))
ENVELOPE_REQUEST = DetailSection(_("Request"), ("request_id", "ip", "user_agent", "ingested_by",
                                             "ingested_by_name"))
# The customer a row belongs to (organization and project public ids), on every detail page.
ENVELOPE_ORGANIZATION = DetailSection(_("Organization"), ("organization_id", "project_id"))
COMMON_FILTERS = ("request_id", "q", "metadata")


class Registry:
    def __init__(self):
        self._kinds: dict[str, LogKind] = {}

    def register(self, kind: LogKind):
        if kind.charts not in ("", "usage") and not isinstance(kind.charts, EventChart):
            raise ValueError(f"{kind.slug}: charts is \"usage\", an EventChart or empty")
        self._kinds[kind.slug] = kind
        return kind

    def __iter__(self):
        return iter(self._kinds.values())

    def __getitem__(self, slug) -> LogKind:
        return self._kinds[slug]

    def get(self, slug):
        return self._kinds.get(slug)

    def for_model(self, model) -> LogKind:
        for kind in self._kinds.values():
            if kind.model is model:
                return kind
        raise KeyError(model)


registry = Registry()
