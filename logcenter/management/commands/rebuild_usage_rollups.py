from django.core.management.base import BaseCommand, CommandError

from logcenter.core.filters import FlexibleDateTimeField
from logcenter.models import USAGE_ROLLUPS
from logcenter.analytics.rollups import rollup_rebuild


class Command(BaseCommand):
    help = "Recompute the hourly usage rollups for a range (default: everything)."

    def add_arguments(self, parser):
        parser.add_argument("--start", help="ISO 8601 or Unix seconds (inclusive hour)")
        parser.add_argument("--end", help="ISO 8601 or Unix seconds (inclusive hour)")

    def handle(self, *args, start=None, end=None, **options):
        field = FlexibleDateTimeField(required=False)
        try:
            start, end = field.clean(start), field.clean(end)
        except Exception as exc:
            raise CommandError(f"Bad time: {exc}") from None
        rollup_rebuild(start, end)
        for rollup in USAGE_ROLLUPS:
            self.stdout.write(f"{rollup.__name__}: {rollup.objects.count():,} hourly rows")
