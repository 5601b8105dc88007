from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts import organizations, services
from accounts.models import ApiKey, OrganizationRole, Plan, User
from logcenter.core.registry import registry
from logcenter.models import ExportJob


class SignInForm(AuthenticationForm):
    """Sign-in through accounts.services.sign_in (lockout and auth events).

    An unknown user, a wrong password and an inactive account get the same message.
    """

    error_messages = {
        "invalid_login": _("Invalid username or password."),
        "locked": _("Too many failed sign-in attempts. Try again in a few minutes."),
    }

    def clean(self):
        identifier = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if identifier is None or not password:
            return self.cleaned_data
        result = services.sign_in(self.request, identifier, password)
        if result.failure == services.LOCKED:
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        if result.failure:
            raise forms.ValidationError(self.error_messages["invalid_login"],
                                        code="invalid_login")
        self.user_cache = result.user
        return self.cleaned_data


class ApiKeyCreateForm(forms.Form):
    """A key for the signed-in user. The ingest scope, and the kinds such a key may write,
    are offered only to administrators (add_ingest_apikey): an ingest key writes log rows."""

    name = forms.CharField(max_length=100, label=_("Name"),
                           help_text=_("A label, e.g. 'billing-export script'."))
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple,
        initial=[ApiKey.Scope.READ], label=_("Scopes"),
    )
    kinds = forms.MultipleChoiceField(
        choices=(), widget=forms.CheckboxSelectMultiple, required=False,
        label=_("Kinds it may write"),
        help_text=_("For an ingest key: the log kinds this service reports. Audit only for a "
                    "service that reports audited operations."))
    group = forms.CharField(max_length=64, initial="default", label=_("Group"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_ingest = user.has_perm("accounts.add_ingest_apikey")
        if self.may_ingest:
            self.fields["kinds"].choices = [(slug, slug) for slug in services.ingest_kinds()]
        else:
            self.fields["scopes"].choices = [(ApiKey.Scope.READ, ApiKey.Scope.READ.label)]
            del self.fields["kinds"]

    def clean(self):
        data = super().clean()
        scopes, kinds = data.get("scopes") or [], data.get("kinds") or []
        if ApiKey.Scope.INGEST in scopes and not kinds:
            self.add_error("kinds", _("Name the kinds this ingest key may write."))
        if kinds and ApiKey.Scope.INGEST not in scopes:
            self.add_error("kinds", _("Only an ingest key writes log kinds."))
        return data


class ProfileForm(forms.ModelForm):
    """What a user sets for themselves: the time zone pages show times in, and the
    console's language (empty: the browser's)."""

    class Meta:
        model = User
        fields = ("timezone", "language")
        labels = {"timezone": _("Time zone"), "language": _("Language")}
        help_texts = {
            "timezone": _("Pages show times in this time zone; the API and exports speak UTC."),
            "language": _("Empty: the language your browser asks for."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("Browser language"))] + [
            choice for choice in self.fields["language"].choices if choice[0]]


# --- organizations and plans (accounts.organizations does the writes) -------------------------

class OrganizationCreateForm(forms.Form):
    name = forms.CharField(max_length=150, label=_("Name"))
    slug = forms.SlugField(max_length=64, required=False, label=_("Slug"),
                           help_text=_("Empty: made from the name."))
    plan = forms.ModelChoiceField(queryset=Plan.objects.all(), empty_label=None,
                                  label=_("Plan"))


class OrganizationSettingsForm(forms.Form):
    """An organization's plan and legal hold, as platform administrators change them."""

    plan = forms.ModelChoiceField(queryset=Plan.objects.all(), empty_label=None,
                                  label=_("Plan"))
    legal_hold = forms.BooleanField(required=False, label=_("Legal hold"),
                                    help_text=_("While on, no purge removes this "
                                                "organization's rows."))


class MemberForm(forms.Form):
    """Add a person to an organization, or change their role there."""

    user = forms.CharField(max_length=150, label=_("Username or e-mail"))
    role = forms.ChoiceField(choices=OrganizationRole.choices, label=_("Organization role"),
                             initial=OrganizationRole.MEMBER)

    def clean_user(self):
        user = services.find_user(self.cleaned_data["user"].strip())
        if user is None:
            raise forms.ValidationError(_("No user has this username or e-mail."))
        return user


class PlanForm(forms.Form):
    """A plan's retention days per kind (empty: unlimited), its export formats and whether
    it may stream. One days field per registered kind: `days_<kind slug>`."""

    export_formats = forms.MultipleChoiceField(
        choices=ExportJob.Format.choices, widget=forms.CheckboxSelectMultiple, required=False,
        label=_("Export formats"))
    streaming_allowed = forms.BooleanField(required=False, label=_("Log streaming"))

    def __init__(self, *args, plan, **kwargs):
        initial = {"export_formats": plan.export_formats,
                   "streaming_allowed": plan.streaming_allowed,
                   **{f"days_{kind}": days for kind, days in plan.retention_days.items()}}
        super().__init__(*args, initial=initial, prefix=plan.slug, **kwargs)
        self.plan = plan
        for kind in registry:
            self.fields[f"days_{kind.slug}"] = forms.IntegerField(
                min_value=1, max_value=organizations.MAX_RETENTION_DAYS, required=False,
                label=kind.label, help_text=_("days; empty: unlimited"))

    def days_fields(self):
        return [self[f"days_{kind.slug}"] for kind in registry]

    @property
    def retention_days(self):
        return {kind.slug: self.cleaned_data.get(f"days_{kind.slug}") for kind in registry}
