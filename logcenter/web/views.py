"""The generic list and detail pages; every kind is served by these two views."""

import json

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from logcenter.analytics import charts, stats
from logcenter.core import selectors, services, units
from logcenter.core.access import access_for, visible_kinds
from logcenter.core.params import page_takes
from logcenter.core.registry import registry
from logcenter.core.text import escape_row
from logcenter.engines import engine_for
from logcenter.models import CONSOLE

from accounts.selectors import account_url, organization_names
from logcenter.web import export_views, filterbar, saved_view_views


def text_fields(kind):
    return [f.name for f in kind.model._meta.concrete_fields
            if f.get_internal_type() in ("CharField", "TextField")]


def list_query(params) -> str:
    """The query string without the panels' own parameters, url-encoded."""
    query = params.copy()
    for name in charts.PANEL_PARAMETERS:
        query.pop(name, None)
    return query.urlencode()


class LogKindMixin(LoginRequiredMixin):
    """Resolves the kind from the URL and refuses users without console access."""

    def dispatch(self, request, *args, **kwargs):
        self.kind = registry.get(kwargs["kind"])
        if self.kind is None:
            raise Http404(_("No such log kind."))
        if request.user.is_authenticated:
            self.access = access_for(request.user, self.kind)
            if not self.access.can_view:
                raise PermissionDenied(_("Your role may not open the {kind} tab.").format(
                    kind=self.kind.label))
        return super().dispatch(request, *args, **kwargs)


@login_required
def console_home(request):
    kinds = visible_kinds(request.user)
    if not kinds:
        raise PermissionDenied(_("Your role may not see any logs."))
    return redirect("logcenter:list", kind=kinds[0].slug)


class LogListView(LogKindMixin, TemplateView):
    template_name = "logcenter/list.html"
    results_template_name = "logcenter/_results.html"

    def partial(self):
        """htmx swaps only the results when the filter bar changes. A history restore
        (Back to an address htmx's cache no longer holds) asks for the whole page."""
        htmx = self.request.htmx
        return bool(htmx and not htmx.boosted and not htmx.history_restore_request)

    def get_template_names(self):
        return [self.results_template_name if self.partial() else self.template_name]

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        # The same address answers a page or its results: caches must keep them apart,
        # or Back could show the results alone as a page.
        patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
        return response

    def get(self, request, *args, **kwargs):
        kind = self.kind
        default = saved_view_views.default_redirect(request, kind)  # the user's default view
        if default is not None:
            return default
        self.query = None
        try:
            self.query = selectors.LogQuery.parse(kind, request.user, request.GET,
                                                  also=charts.PANEL_PARAMETERS)
            listing = selectors.log_page(self.query)
        except selectors.InvalidLogQuery as exc:
            context = self.get_context_data(filterset=exc.filterset, listing=None,
                                            errors=exc.errors)
            return self.render_to_response(context, status=400)
        return self.render_to_response(self.get_context_data(
            filterset=listing.filterset, listing=listing, errors=None))

    def get_context_data(self, *, filterset, listing, errors, **kwargs):
        context = super().get_context_data(**kwargs)
        kind = self.kind
        rows = [escape_row(row, text_fields(kind))
                for row in (listing.page.rows if listing else [])]
        access = self.access
        params = self.request.GET
        query = getattr(self, "query", None)
        columns = saved_view_views.shown_columns(kind, self.request.user, query)
        table = kind.table(rows, sorts=[s for s in kind.sorts if s not in access.hidden_fields],
                           **saved_view_views.table_arguments(kind, access, columns),
                           filter_links=filterbar.FilterLinks(self.request.path, params),
                           filterable=filterbar.filterable_fields(kind, access))
        table.current_ordering = (
            filterset.ordering_value if listing else self.request.GET.get("ordering", "")
        )
        total = listing.total if listing else None
        context.update(
            kind=kind,
            access=access,
            filterset=filterset,
            filter_form=filterset.form,
            time_fields=[filterset.form["start_time"], filterset.form["end_time"]],
            **dict(zip(("primary_filters", "more_filters", "more_open"),
                       filterbar.split_fields(kind, filterset.form, params, leading=(
                           filterbar.organization_switcher(filterset.form, access,
                                                           organization_names))))),
            chips=filterbar.chips(kind, filterset, params),
            skip_target="#results",  # the skip link's target: the rows
            exact_window=filterbar.exact_window(filterset, params) if listing else None,
            **saved_view_views.page_context(self.request, kind, access, query, columns),
            listing=listing,
            page=listing.page if listing else None,
            table=table,
            total=total,
            window=filterset.time_window if listing else None,
            # Figures and charts load in a second request (LogPanelsView), so the rows
            # show at once; deeper pages skip them.
            show_panels=bool(listing and kind.charts and access.can_view_stats
                             and not filterset.cursor_value),
            errors=errors,
            page_sizes=(25, 50, 100, 200),
            range_presets=[("1h", _("1 h")), ("24h", _("24 h")), ("7d", _("7 d")),
                           ("30d", _("30 d"))],
            api_url=f"/api/v1/{kind.api_name}/",
            # The list's query for the API and the export: the panels' own parameters
            # (top_by) are no filter.
            list_query=list_query(self.request.GET),
            # The S3 destinations the Export form offers (object storage).
            export_destinations=(export_views.export_destinations(self.request.user)
                                 if access.can_export else []),
        )
        return context




class LogPanelsView(LogKindMixin, TemplateView):
    """The list's figures and charts for the same query string, as a page fragment."""

    template_name = "logcenter/_panels.html"

    def get(self, request, *args, **kwargs):
        kind, user, params = self.kind, request.user, request.GET
        if not self.access.can_view_stats:
            raise PermissionDenied(_("Your role may not see the {kind} figures.").format(
                kind=kind.label))
        try:
            # One snapshot for every figure and chart: they agree with each other, and a
            # panel is one transaction rather than one per figure.
            with engine_for(kind).one_snapshot():
                # The usage figures (kind.summary) are read with the usage charts.
                panels = (charts.usage_panels(user, params) if kind.charts == "usage"
                          else charts.event_panels(kind.slug, user, params)
                          if kind.charts else None)
                summary = panels["summary"] if kind.summary and panels else None
        except selectors.InvalidLogQuery:
            return self.render_to_response({"summary": None, "panels": None}, status=400)
        except stats.StatsError as exc:
            # Shown in place of the charts (htmx swaps only successful answers).
            return self.render_to_response({"summary": None, "panels": None,
                                            "panels_error": exc.reason})
        return self.render_to_response({"kind": kind, "summary": summary, "panels": panels,
                                        "rate_sample": stats.LATEST_SAMPLE})


class LogDetailView(LogKindMixin, TemplateView):
    template_name = "logcenter/detail.html"

    @method_decorator(page_takes())  # the detail takes no parameter
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        kind = self.kind
        try:
            row = selectors.log_get(kind, self.request.user, kwargs["event_id"])
        except kind.model.DoesNotExist:
            raise Http404(_("No such event.")) from None
        services.log_detail_viewed(kind=kind, user=self.request.user, row=row)
        raw = kind.serializer(row, context={"access": self.access}).data
        escape_row(row, text_fields(kind))
        sections = []
        # A value that is a filter of the same name links to the list filtered by it (a
        # request ID over all time: the rows of one request are found whatever their age).
        filterable = filterbar.filterable_fields(kind, self.access)
        links = filterbar.FilterLinks(reverse("logcenter:list", args=[kind.slug]), None)
        for section in kind.sections:
            items = []
            for name in section.fields:
                if name in self.access.hidden_fields:
                    continue
                field = kind.model._meta.get_field(name)
                value = getattr(row, name)
                link = (links.url(name, value) + ("&range=all" if name == "request_id" else "")
                        if name in filterable and isinstance(value, (str, int))
                        and value != "" else None)
                shown = units.display(kind.units.get(name), value)
                if shown is not None:
                    value = shown
                elif field.choices and value:
                    value = getattr(row, f"get_{name}_display")()
                items.append((field.verbose_name, name, value, link))
            sections.append((section.title, items))
        context.update(
            kind=kind,
            row=row,
            sections=sections,
            metadata=sorted(row.metadata.items()) if row.metadata else [],
            # One-field sections of structured values get the card's full width.
            wide_sections={title for title, items in sections if len(items) == 1},
            raw_json=json.dumps(raw, indent=2, ensure_ascii=False, default=str),
            # An actor named by an ingest key is that service's word, not something the
            # console saw: the page says who reported it.
            reported_by=(row.ingested_by_name or row.ingested_by)
            if row.ingested_by not in ("", CONSOLE) and (row.actor_id or row.actor_name) else "",
            related=selectors.log_related(row, self.request.user),
            # The row's user, to support's account page (their lockout, an Unlock).
            account_url=account_url(self.request.user, getattr(row, kind.account_field))
            if kind.account_field else None,
        )
        return context
