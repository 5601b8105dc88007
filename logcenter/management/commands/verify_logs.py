"""`manage.py verify_logs [--kind K …] [--from T] [--to T] [--public-key HEX …]`: check that
every sealed log row still matches its signed, chained digest block (logcenter.integrity).

Prints, per kind and in total, "N/N digests valid, M/M rows valid" and, when something is
wrong, the first broken block and row and what is wrong with it. Exits 1 when anything is.
"""

import os
from datetime import datetime, time
from datetime import timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from logcenter.integrity import verification
from logcenter.core.registry import registry


def parse_time(text):
    value = parse_datetime(text)
    if value is None and (day := parse_date(text)) is not None:
        value = datetime.combine(day, time.min)
    if value is None:
        raise CommandError(f"not a time: {text!r} (YYYY-MM-DD or ISO 8601)")
    return value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)


class Command(BaseCommand):
    help = "Verify the log rows against their signed, chained digest blocks."

    def add_arguments(self, parser):
        parser.add_argument("--kind", action="append", choices=[k.slug for k in registry],
                            help="a kind to verify (repeat for several; default: all)")
        parser.add_argument("--from", dest="start", type=parse_time, metavar="T",
                            help="only the blocks holding rows that occurred at or after T")
        parser.add_argument("--to", dest="end", type=parse_time, metavar="T",
                            help="only the blocks holding rows that occurred before T")
        parser.add_argument("--public-key", action="append", metavar="KEY",
                            help="trust only this Ed25519 public key (64 hex digits, or a "
                                 "PEM file); repeat for retired keys. Default: the "
                                 "configured signing key and LOGCENTER_TRUSTED_PUBLIC_KEYS")
        parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                            help="processes verifying each kind side by side on PostgreSQL "
                                 "(default: 2, or 1 on a single CPU)")
        parser.add_argument("--no-record", action="store_true",
                            help="do not keep the result for the console's Integrity page")

    def handle(self, *args, kind=None, start=None, end=None, public_key=None,
               no_record=False, workers=1, **options):
        if start and end and start >= end:
            raise CommandError("--from must be before --to")
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        keys = [_key_text(value) for value in public_key or []]
        kinds = [registry[slug] for slug in kind] if kind else list(registry)
        try:
            reports = verification.verify(kinds, start=start, end=end, public_keys=keys,
                                          record_as=None if no_record else "verify_logs",
                                          workers=workers)
        except ValueError as exc:  # a public key that is not one
            raise CommandError(f"--public-key: {exc}") from None
        for report in reports:
            line = report.summary() + f"  [{report.seconds:.1f}s]"
            self.stdout.write(self.style.SUCCESS(line) if report.ok else self.style.ERROR(line))
            if report.first:
                self.stdout.write(f"  first problem: {report.first}")
                others = ", ".join(f"{n:,} {what.replace('_', ' ')}"
                                   for what, n in sorted(report.problems.items()))
                self.stdout.write(f"  problems: {others}")
        total = verification.KindReport(kind="all")
        for report in reports:
            for name in ("blocks_valid", "blocks_total", "rows_valid", "rows_total"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
        summary = (f"{total.blocks_valid:,}/{total.blocks_total:,} digests valid, "
                   f"{total.rows_valid:,}/{total.rows_total:,} rows valid")
        if all(report.ok for report in reports):
            self.stdout.write(self.style.SUCCESS(summary))
            return
        self.stdout.write(self.style.ERROR(summary))
        raise SystemExit(1)


def _key_text(value):
    from pathlib import Path

    path = Path(value)
    if not value.startswith("-----") and len(value) != 64 and path.exists():
        return path.read_text()
    return value
