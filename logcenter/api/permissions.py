from django.utils.translation import gettext, gettext_lazy
from rest_framework.permissions import BasePermission


class IsConsoleUser(BasePermission):
    """A signed-in user (session), or an API key holding the view's scope.

    What each kind shows is decided by the role, in logcenter.core.selectors.
    """

    message = gettext_lazy("You have no access to the log API.")

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        key = request.auth
        required_scope = getattr(view, "required_scope", "read")
        if key is not None and hasattr(key, "has_scope") and not key.has_scope(required_scope):
            self.message = gettext("This API key lacks the '{scope}' scope.").format(
                scope=required_scope)
            return False
        return True
