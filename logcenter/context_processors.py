from .access import visible_kinds


def log_tabs(request):
    """The tab bar: the kinds this user may see, in registry order."""
    user = getattr(request, "user", None)
    return {"log_kinds": visible_kinds(user) if user and user.is_authenticated else []}
