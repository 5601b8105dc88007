from logcenter.core.access import access_for, visible_kinds


def log_tabs(request):
    """The tab bar: the kinds this user may see, in registry order."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {"log_kinds": []}
    kinds = visible_kinds(user)
    # The Integrity page is for roles that see every row of some kind (view_all).
    return {"log_kinds": kinds,
            "can_verify_logs": any(access_for(user, kind).can_view_all for kind in kinds)}
