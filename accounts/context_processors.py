from django.conf import settings


def languages(request):
    """The top bar's language switcher: the languages, and the one chosen ("" when the
    console follows the browser): the user's saved choice, else the switcher's cookie."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        chosen = user.language
    else:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return {"languages": settings.LANGUAGES,
            "language_chosen": chosen if chosen in dict(settings.LANGUAGES) else ""}
