"""The console's export pages: the Export button of every list, and the Jobs page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST
from rest_framework.exceptions import NotFound

from logcenter.exports import jobs as exports
from logcenter.core import selectors
from logcenter.core.access import access_for, visible_kinds
from logcenter.api.exports import download_response, manifest_response
from logcenter.models import ExportJob
from logcenter.core.params import page_takes


@login_required
@require_POST
def export_start(request, kind):
    """Export exactly the rows of the list's current filter and sort (its query string)."""
    fmt = request.POST.get("format", "csv")
    try:
        exports.export_create(user=request.user, kind_slug=kind, fmt=fmt, params=request.GET,
                              excel_bom=excel_bom_choice(request.POST),
                              columns=request.POST.get("columns") or None,
                              local_times=request.POST.get("local_times") == "on",
                              destination=request.POST.get("destination") or None,
                              destination_folder=request.POST.get("destination_folder", ""))
    except exports.InvalidExportOption as exc:
        messages.error(request, _("Export destination: {problem}").format(problem=exc)
                       if exc.field == "destination" else str(exc))
        return redirect(f"{reverse('logcenter:list', args=[kind])}?{request.GET.urlencode()}")
    except selectors.InvalidLogQuery as exc:
        problems = "; ".join(f"{name}: {' '.join(reasons)}"
                             for name, reasons in exc.api_errors().items())
        messages.error(request, _("Fix the filters before exporting ({problems}).").format(
            problems=problems))
        return redirect(f"{reverse('logcenter:list', args=[kind])}?{request.GET.urlencode()}")
    except (ValueError, PermissionDenied) as exc:  # a bad format or column, or the plan's
        messages.error(request, str(exc))            # formats: named in the message
        return redirect(f"{reverse('logcenter:list', args=[kind])}?{request.GET.urlencode()}")
    except exports.QueueUnavailable:
        messages.error(request, _("The task queue is unavailable right now, so the export "
                                  "could not start. Pages and ingestion still work; retry it "
                                  "later."))
        return redirect("exports")
    messages.success(request, _("Export started; it appears below with its progress."))
    return redirect("exports")


def export_destinations(user):
    """The S3 destinations the list's Export form offers `user` (none: no choice shown)."""
    return list(exports.usable_destinations(user))


def excel_bom_choice(form):
    """The form's BOM choice: "on"/"off", or the default for the user's language."""
    return {"on": True, "off": False}.get(form.get("excel_bom", ""))


@login_required
@page_takes()
def export_jobs(request):
    jobs = list(ExportJob.objects.filter(user=request.user).select_related("destination")[:50])
    for job in jobs:
        job.destination_url = exports.destination_url(job)
    template = "logcenter/_jobs.html" if request.htmx else "logcenter/jobs.html"
    # The tabs whose Export button this user has (none for some roles).
    kinds = [kind for kind in visible_kinds(request.user)
             if access_for(request.user, kind).can_export]
    return render(request, template, {
        "jobs": jobs, "polling": any(job.is_active for job in jobs),
        "exportable_kinds": kinds, "exportable_links": tab_links(kinds)})


def tab_links(kinds):
    """Links to the kinds' tabs as a list in the user's language: "A, B or C" / "A、B或C"."""
    links = [format_html('<a href="{}">{}</a>', reverse("logcenter:list", args=[kind.slug]),
                         kind.label) for kind in kinds]
    if len(links) < 2:
        return mark_safe("".join(links))
    return mark_safe(pgettext("list separator", ", ").join(links[:-1])
                     + pgettext("list, before the last item", " or ") + links[-1])


def _own_job_response(request, export_id, respond):
    """respond(job, user) for one of the user's own export jobs (the API's responses); a
    file that is gone is a 404 page."""
    job = get_object_or_404(ExportJob, export_id=export_id, user=request.user)
    try:
        return respond(job, request.user)
    except NotFound as exc:
        raise Http404(str(exc)) from None


@login_required
@page_takes()
def export_download(request, export_id):
    return _own_job_response(request, export_id, download_response)


@login_required
@page_takes()
def export_manifest(request, export_id):
    return _own_job_response(request, export_id, manifest_response)


@login_required
@require_POST
def export_retry(request, export_id):
    job = get_object_or_404(ExportJob, export_id=export_id, user=request.user)
    try:
        exports.export_retry(job)
    except (ValueError, PermissionDenied, exports.QueueUnavailable) as exc:
        messages.error(request, str(exc) if not isinstance(exc, exports.QueueUnavailable)
                       else _("The task queue is unavailable right now; retry later."))
    return redirect("exports")
