from logcenter.core.access import access_for, visible_kinds


def log_tabs(request):
    """The tab bar: the kinds this user may see, in registry order."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {"log_kinds": []}
    kinds = visible_kinds(user)
    # The Integrity page is for roles that see every row of some kind (view_all).
    return {"log_kinds": kinds,
            "can_verify_logs": any(access_for(user, kind).can_view_all for kind in kinds),
            "can_manage_streams": streams_link_shown(user)}


def streams_link_shown(user):
    """The Admin menu's Log streams: for platform administrators, and for an
    organization's owners and admins when their plan includes streaming or they still have
    destinations from a plan that did (to see and delete them)."""
    from logcenter.streams import services

    if not services.can_manage_destinations(user):
        return False
    return (not services.streaming_refusal(user)
            or services.manageable_destinations(user).exists())
