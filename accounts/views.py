import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from logcenter.core.params import page_takes
from logcenter.core.services import auth_event_record

from accounts import selectors, services
from accounts.forms import ApiKeyCreateForm, ProfileForm, SignInForm
from accounts.models import ApiKey


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)  # logs in, rotating the session key
        services.record_sign_in(self.request, form.get_user())
        return response


def _language_cookie(response, choice):
    """Keep the switcher's cookie in step with a saved choice (empty: no cookie)."""
    if choice:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, choice,
                            max_age=settings.LANGUAGE_COOKIE_AGE,
                            path=settings.LANGUAGE_COOKIE_PATH,
                            domain=settings.LANGUAGE_COOKIE_DOMAIN,
                            secure=settings.LANGUAGE_COOKIE_SECURE,
                            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                            samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME,
                               path=settings.LANGUAGE_COOKIE_PATH,
                               domain=settings.LANGUAGE_COOKIE_DOMAIN)
    return response


@require_POST
def language_set(request):
    """The top bar's language switcher: Django's set_language (the cookie, and back to
    `next`), and for a signed-in user the saved preference, which follows them to any
    browser. An empty choice goes back to the browser's language."""
    choice = request.POST.get("language", "")
    if choice and choice not in dict(settings.LANGUAGES):
        return render(request, "400.html", {"problem": gettext("Unknown language.")}, status=400)
    response = set_language(request)
    if not choice:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME,
                               path=settings.LANGUAGE_COOKIE_PATH,
                               domain=settings.LANGUAGE_COOKIE_DOMAIN)
    if request.user.is_authenticated and request.user.language != choice:
        request.user.language = choice
        request.user.save(update_fields=["language"])
    return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("api-keys")

    def form_valid(self, form):
        response = super().form_valid(form)
        auth_event_record(event="password.changed", user=self.request.user)
        messages.success(self.request, gettext("Your password was changed."))
        return response


NONCE_KEY = "api_key_form_nonces"


@login_required
@page_takes()
def api_keys(request):
    """The signed-in user's API keys: list, create (secret shown once), revoke.

    The secret is shown in the answer to the POST (it is stored nowhere, so there is
    nothing to redirect to); a one-time form nonce stops a reload from making a second key.
    """
    new_secret = None
    form = ApiKeyCreateForm(user=request.user)
    if request.method == "POST":
        form = ApiKeyCreateForm(request.POST, user=request.user)
        nonces = request.session.get(NONCE_KEY, [])
        nonce = request.POST.get("nonce", "")
        if nonce not in nonces:
            messages.info(request, gettext("That form was already used; no new key was created."))
            return redirect("api-keys")
        if form.is_valid():
            request.session[NONCE_KEY] = [n for n in nonces if n != nonce]
            _, new_secret = services.api_key_create(
                actor=request.user, owner=request.user, name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"], group=form.cleaned_data["group"],
                kinds=form.cleaned_data.get("kinds") or (),
            )
            form = ApiKeyCreateForm(user=request.user)
    nonce = secrets.token_urlsafe(16)
    request.session[NONCE_KEY] = (request.session.get(NONCE_KEY, []) + [nonce])[-10:]
    keys = request.user.api_keys.all()
    status = 400 if form.errors else 200
    return render(request, "accounts/api_keys.html",
                  {"form": form, "keys": keys, "new_secret": new_secret, "nonce": nonce},
                  status=status)


@login_required
@require_POST
def api_key_revoke(request, pk):
    key = get_object_or_404(ApiKey, pk=pk, owner=request.user)
    services.api_key_revoke(actor=request.user, key=key)
    messages.success(request, gettext("Key {name} ({prefix}…) was revoked.").format(
        name=key.name, prefix=key.prefix))
    return redirect("api-keys")


@login_required
@page_takes()
def profile(request):
    """The signed-in user's own settings: time zone and language (preferences, not
    audited changes)."""
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save(commit=False).save(update_fields=["timezone", "language"])
        messages.success(request, gettext("Your settings were saved."))
        return _language_cookie(redirect("profile"), form.cleaned_data["language"])
    return render(request, "accounts/profile.html", {
        "form": form, "sign_ins_url": selectors.sign_ins_url(None, request.user)},
        status=400 if form.errors else 200)


def _account_or_404(request, pk):
    """The account a support page is about; 403 for a role that does not see everyone's
    sign-ins (a member learns nothing about other accounts)."""
    if not selectors.may_view_accounts(request.user):
        raise PermissionDenied(gettext("Your role may not see other users' accounts."))
    return get_object_or_404(get_user_model(), pk=pk)


@login_required
@page_takes()
def account_status(request, pk):
    """Why can't this person sign in: active or not, failures counted now, locked until
    when, and their recent sign-ins; Unlock for those who may."""
    account = _account_or_404(request, pk)
    return render(request, "accounts/account.html", {
        "account": account,
        "status": selectors.account_status(account),
        "sign_ins": selectors.account_sign_ins(request.user, account),
        "may_unlock": selectors.may_unlock(request.user),
        "sign_ins_url": selectors.sign_ins_url(account),
    })


@login_required
@require_POST
def account_unlock(request, pk):
    """Lift the account's lockout (audited: user.unlocked, and account.unlocked)."""
    account = _account_or_404(request, pk)
    if not selectors.may_unlock(request.user):
        raise PermissionDenied(gettext("Your role may not unlock accounts."))
    services.unlock_account(actor=request.user, user=account)
    messages.success(request, gettext("{user} may sign in again.").format(
        user=account.get_username()))
    return redirect("account-status", pk=account.pk)
