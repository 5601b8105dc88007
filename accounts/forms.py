from django import forms
from django.contrib.auth.forms import AuthenticationForm

from . import services
from .models import ApiKey


class SignInForm(AuthenticationForm):
    """Sign-in through accounts.services.sign_in (lockout and auth events).

    An unknown user, a wrong password and an inactive account get the same message.
    """

    error_messages = {
        "invalid_login": "Invalid username or password.",
        "locked": "Too many failed sign-in attempts. Try again in a few minutes.",
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
    name = forms.CharField(max_length=100, help_text="A label, e.g. 'billing-export script'.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple,
        initial=[ApiKey.Scope.READ],
    )
    group = forms.CharField(max_length=64, initial="default")
