"""The Retention page: policies per kind, legal holds, and "delete logs older than …"."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from logcenter.retention import purge as retention
from logcenter.models import DeletionJob, RetentionPolicy
from logcenter.core.params import page_takes
from logcenter.core.registry import registry

def kind_choices():
    return [(kind.slug, kind.label) for kind in registry]


class PolicyForm(forms.Form):
    kind = forms.ChoiceField(choices=kind_choices, widget=forms.HiddenInput)
    days = forms.IntegerField(min_value=1, max_value=3650, label=_("Keep (days)"))
    legal_hold = forms.BooleanField(required=False, label=_("Legal hold"))


class DeletionForm(forms.Form):
    kind = forms.ChoiceField(choices=kind_choices, label=_("Kind"))
    # Typed as on the lists' time fields; a time without offset is in the user's timezone.
    before = forms.DateTimeField(
        label=_("Delete rows older than"),
        widget=forms.DateTimeInput(format="%Y-%m-%d %H:%M",
                                   attrs={"placeholder": _("YYYY-MM-DD HH:MM")}),
        input_formats=["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["before"].help_text = gettext("In your timezone ({zone}).").format(
            zone=timezone.get_current_timezone_name())

    def clean_before(self):
        before = self.cleaned_data["before"]
        if before > timezone.now():
            raise forms.ValidationError(gettext("Choose a time in the past."))
        return before


@login_required
@page_takes()
@permission_required("logcenter.change_retentionpolicy", raise_exception=True)
def retention_page(request):
    deletion_form = DeletionForm()
    status = 200
    if request.method == "POST" and request.POST.get("action") == "policy":
        form = PolicyForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            retention.policy_update(actor=request.user, kind_slug=data["kind"],
                                    days=data["days"], legal_hold=data["legal_hold"])
            saved = (gettext("{kind} retention saved: {days} days, legal hold on.")
                     if data["legal_hold"] else gettext("{kind} retention saved: {days} days."))
            messages.success(request, saved.format(kind=registry[data["kind"]].label,
                                                   days=data["days"]))
            return redirect("retention")
        messages.error(request, "; ".join(
            gettext("{field}: {errors}").format(
                field=(form.fields[name].label if name in form.fields else None) or name,
                errors=" ".join(errors))
            for name, errors in form.errors.items()))
        status = 400
    elif request.method == "POST" and request.POST.get("action") == "delete":
        deletion_form = DeletionForm(request.POST)
        if deletion_form.is_valid():
            try:
                retention.deletion_request(actor=request.user,
                                           kind_slug=deletion_form.cleaned_data["kind"],
                                           before=deletion_form.cleaned_data["before"])
                messages.success(request, gettext("Deletion started; its progress is below."))
                return redirect("retention")
            except (retention.LegalHold, retention.NotExpired) as exc:
                deletion_form.add_error("kind", str(exc))
        status = 400
    policies = [(kind, RetentionPolicy.for_kind(kind.slug)) for kind in registry]
    jobs = DeletionJob.objects.all()[:20]
    template = "logcenter/_deletions.html" if request.htmx else "logcenter/retention.html"
    return render(request, template, {
        "policies": policies, "deletion_form": deletion_form, "jobs": jobs,
        "polling": any(j.status in ("queued", "running") for j in jobs)}, status=status)
