"""Who may see what: one answer per (user, kind), used by every face of the logs.

The selector applies the row rule (own rows only without view_all); the table, the
detail page, the serializer and the export apply the field rules (masked sensitive
fields, hidden cost fields) from the same Access object.
"""

from dataclasses import dataclass
from functools import cached_property

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext

MASK = "[masked]"


@dataclass(frozen=True)
class Access:
    user: object
    kind: object

    def _has(self, action):
        user = self.user
        return bool(user and user.is_authenticated and user.is_active
                    and user.has_perm(self.kind.perm(action)))

    @cached_property
    def can_view(self):
        return self._has("view")

    @cached_property
    def can_view_all(self):
        return self._has("view_all")

    @cached_property
    def can_export(self):
        return self._has("export")

    @cached_property
    def can_view_sensitive(self):
        return self._has("view_sensitive")

    @cached_property
    def can_view_cost(self):
        return not self.kind.cost_fields or self._has("view_cost")

    @cached_property
    def can_view_stats(self):
        """Figures and charts: a kind with a view_stats_<model> permission (usage) needs
        it; the others' charts go with the tab."""
        codename = f"view_stats_{self.kind.model_name}"
        if not any(name == codename for name, _ in self.kind.model._meta.permissions):
            return self.can_view
        return self._has("view_stats")

    @cached_property
    def masked_fields(self) -> frozenset:
        if self.can_view_sensitive:
            return frozenset()
        masked = set(self.kind.sensitive_fields)
        if not self.can_view_all:
            # Every row this user sees is their own (scope): their own IP address and user
            # agent are not secret to them. A role seeing everyone's rows keeps the mask.
            masked -= set(self.kind.owner_visible_fields)
        return frozenset(masked)

    @cached_property
    def hidden_fields(self) -> frozenset:
        return frozenset(() if self.can_view_cost else self.kind.cost_fields)

    @property
    def restricted_fields(self) -> frozenset:
        """Fields this user may neither see plainly nor filter, search or sort by."""
        return self.masked_fields | self.hidden_fields

    def mask(self, name, value):
        if name in self.masked_fields and value not in (None, "", {}, []):
            return MASK
        return value

    def apply(self, rows):
        """Mask sensitive and blank hidden fields on rows about to be shown or exported.

        The rows are display copies from then on: LogEnvelope.save() refuses them.
        """
        if not self.restricted_fields:
            return rows
        for row in rows:
            for name in self.masked_fields:
                setattr(row, name, self.mask(name, getattr(row, name)))
            for name in self.hidden_fields:
                setattr(row, name, None)
            row._masked = True
        return rows

    def scope(self, queryset):
        """Own rows only, unless the role sees everyone's."""
        if self.can_view_all:
            return queryset
        return queryset.filter(**{self.kind.owner_field: str(self.user.pk)})


def access_for(user, kind) -> Access:
    return Access(user, kind)


def visible_kinds(user):
    from logcenter.core.registry import registry

    return [kind for kind in registry if access_for(user, kind).can_view]


def log_visible(kind, user):
    """Rows of `kind` the user may see: PermissionDenied without the kind's view
    permission; only their own rows without view_all."""
    access = access_for(user, kind)
    if not access.can_view:
        raise PermissionDenied(gettext("Your role may not see the {kind} logs.").format(
            kind=kind.label))
    return access.scope(kind.model.objects.all())
