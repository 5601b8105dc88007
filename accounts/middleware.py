import zoneinfo

from django.utils import timezone


class UserTimezoneMiddleware:
    """Render times in the signed-in user's timezone; the API still speaks UTC."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tz_name = getattr(user, "timezone", None) if user and user.is_authenticated else None
        try:
            zone = zoneinfo.ZoneInfo(tz_name) if tz_name else timezone.get_default_timezone()
            timezone.activate(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
