import zoneinfo

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation
from django.utils.translation import trans_real

# Chinese as browsers name it, to the script the console speaks (the mapping new-api uses):
# Traditional for Taiwan, Hong Kong and Macau and for an explicit Hant, Simplified otherwise.
TRADITIONAL_CHINESE_TAGS = {"hant", "tw", "hk", "mo"}


def supported_language(code):
    """One browser language tag (`zh-TW`, `zh-Hans-CN`, `en-US`) as one of LANGUAGES, or
    None when the console does not speak it."""
    parts = code.strip().lower().replace("_", "-").split("-")
    if parts[0] == "zh":
        return "zh-hant" if TRADITIONAL_CHINESE_TAGS & set(parts[1:]) else "zh-hans"
    try:
        return translation.get_supported_language_variant("-".join(parts))
    except LookupError:
        return None


def browser_language(request):
    """The first language of Accept-Language (by q) the console speaks, or None."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    for code, _ in trans_real.parse_accept_lang_header(header):
        if code != "*" and (language := supported_language(code)):
            return language
    return None


class UserLocaleMiddleware(LocaleMiddleware):
    """The language of the answer: the signed-in user's saved choice, else the switcher's
    cookie, else the browser's Accept-Language (Chinese mapped as above), else English.

    The API follows the same rule, so its error messages follow Accept-Language (its
    field names and values stay English); an API key's requests are judged by the header,
    as DRF authenticates them after the middleware has run."""

    def process_request(self, request):
        language = (self.user_language(request) or self.cookie_language(request)
                    or browser_language(request) or settings.LANGUAGE_CODE)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        response = super().process_response(request, response)
        # The answer is rendered: the thread's next work (a test, a task run in-process)
        # starts from the default language again, not from this request's.
        translation.deactivate()
        return response

    @staticmethod
    def user_language(request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and getattr(user, "language", ""):
            return supported_language(user.language)
        return None

    @staticmethod
    def cookie_language(request):
        code = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        return supported_language(code) if code else None


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
