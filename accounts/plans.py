"""The plans an installation starts with: those of the source documents (000: retention by
plan, exports from Pro up; 004: SIEM streaming with Enterprise). Platform administrators
edit them afterwards; they are made again only where no plan exists at all (a new database,
or a test database after a flush). Migration accounts 0007 keeps its own copy."""

DEFAULT_PLANS = [
    # slug, name, days of every kind (None: unlimited), export formats, streaming
    ("free", "Free", 7, [], False),
    ("basic", "Basic", 30, [], False),
    ("pro", "Pro", 90, ["csv", "json"], False),
    ("business", "Business", 365, ["csv", "json", "ndjson"], False),
    ("enterprise", "Enterprise", None, ["csv", "json", "ndjson"], True),
]


def ensure_default_plans():
    """Create the default plans when there is no plan."""
    from accounts.models import Plan
    from logcenter.core.registry import registry

    if Plan.objects.exists():
        return
    kinds = [kind.slug for kind in registry]
    Plan.objects.bulk_create(
        Plan(slug=slug, name=name, retention_days={kind: days for kind in kinds},
             export_formats=formats, streaming_allowed=streaming, position=position)
        for position, (slug, name, days, formats, streaming) in enumerate(DEFAULT_PLANS))
