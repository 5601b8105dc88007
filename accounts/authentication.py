from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` with a platform API key.

    The request's user is the key's owner; `request.auth` is the key, so views can
    check its scopes.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        parts = header.split()
        if not parts or parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        key = ApiKey.from_secret(parts[1])
        if key is None or not key.owner.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        # Touch last_used_at at most once a minute to keep the hot path write-free.
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key.owner, key

    def authenticate_header(self, request):
        return self.keyword
