"""`manage.py seal_logs`: seal every kind's new rows into signed digest blocks now (what the
beat task does every minute; the demo, which runs no beat, seals after loading)."""

from django.core.management.base import BaseCommand

from logcenter.integrity import sealing
from logcenter.core.registry import registry


class Command(BaseCommand):
    help = "Seal the log rows stored since the last run into signed, chained digest blocks."

    def add_arguments(self, parser):
        parser.add_argument("--kind", action="append", choices=[k.slug for k in registry])

    def handle(self, *args, kind=None, **options):
        kinds = [registry[slug] for slug in kind] if kind else None
        run = sealing.seal(kinds)
        if run.busy:
            self.stdout.write("Another sealing run is in progress; nothing done.")
            return
        for slug, result in run.kinds.items():
            if result.waiting:
                self.stdout.write(self.style.WARNING(f"{slug}: {result.waiting}"))
            elif options["verbosity"]:
                self.stdout.write(f"{slug}: {result.rows:,} rows sealed in {result.blocks} "
                                  f"blocks (chain at block {result.head_seq})")
        if options["verbosity"]:
            self.stdout.write(f"{run.rows:,} rows in {run.seconds:.1f}s")
