"""The console's Integrity page: each kind's seal and last verification, and a button that
verifies a kind now (as a task; the page shows its result when it is done)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from logcenter.integrity import keys, status, verification


@login_required
def integrity_page(request):
    kinds = status.verifiable_kinds(request.user)
    if not kinds:
        raise PermissionDenied(_("The Integrity page is for roles that may see every row of "
                                 "a kind of log."))
    if request.method == "POST":
        slug = request.POST.get("kind")
        if slug not in {kind.slug for kind in kinds}:
            raise PermissionDenied(_("You may not verify that kind of log."))
        verification.integrity_verify.delay(slug, requested_by=request.user.get_username())
        messages.success(request, _("Verification started; its result appears below when "
                                    "done."))
        return redirect("integrity")
    signer = keys.signing_key()
    return render(request, "logcenter/integrity.html", {
        "statuses": [status.kind_status(kind) for kind in kinds], "signer": signer,
        "generated_key": signer.is_demo_key, "cap": status.UNSEALED_CAP})
