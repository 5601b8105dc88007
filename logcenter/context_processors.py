from .registry import registry


def log_tabs(request):
    """The tab bar: every registered kind, in registry order."""
    return {"log_kinds": list(registry)}
