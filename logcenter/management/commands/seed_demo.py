"""`manage.py seed_demo`: demo users, API keys and 30 days of logs of every registered kind.

Idempotent: a second run creates no users, keys or rows, and a run after part of the demo
set was deleted puts back only the missing rows. `--usage N` then appends N extra
usage rows over the last 90 days for benchmarks (through the usage engine's bulk load: COPY
on PostgreSQL), plus rows of the kinds whose demo generator asks for a share of them (audit,
auth and system); those are not idempotent. The data generation lives in the `demo` package,
outside the runtime app: it is imported when the command runs, not when Django loads it.
"""

import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from accounts.models import ApiKey, Organization, User
from logcenter.core.registry import registry
from logcenter.engines import engine_for
from logcenter.engines.postgres import db_roles
from logcenter.models import UsageRecord


class Command(BaseCommand):
    help = "Seed demo users, API keys and 30 days of audit, usage, auth and system logs."

    def add_arguments(self, parser):
        from demo import EXTRA_DAYS

        parser.add_argument("--usage", type=int, default=0, metavar="N",
                            help="also append N extra usage rows over the last 90 days "
                                 "(benchmarks; COPY on PostgreSQL, not idempotent)")
        parser.add_argument("--chunk", type=int, default=20_000,
                            help="rows per write (a COPY on PostgreSQL) for --usage "
                                 "(default 20000)")
        parser.add_argument("--days", type=int, default=EXTRA_DAYS,
                            help="spread --usage rows over this many days (default 90)")
        parser.add_argument("--workers", type=int, default=None,
                            help="parallel writer processes for --usage where the database "
                                 "takes several (PostgreSQL; default: CPU count, at most 4)")
        parser.add_argument("--usage-only", action="store_true",
                            help="with --usage: no proportionate audit, auth and system rows")
        parser.add_argument("--skip-base", action="store_true",
                            help="with --usage: do not (re)check the 30-day demo set first")

    def handle(self, *args, usage=0, chunk=20_000, days=None, workers=None,
             skip_base=False, usage_only=False, verbosity=1, **options):
        import demo

        days = demo.EXTRA_DAYS if days is None else days
        if usage < 0 or chunk < 1 or days < 1 or (workers is not None and workers < 1):
            raise CommandError("--usage must be >= 0; --chunk, --days and --workers >= 1")
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        log = self.stdout.write if verbosity else (lambda *a, **k: None)
        db = f"{connection.display_name} ({connection.settings_dict.get('NAME')})"

        if not (skip_base and usage):
            started = time.perf_counter()
            result = demo.seed(log=log)
            elapsed = time.perf_counter() - started
            if result.skipped:
                log(f"Demo data already present in {db}; nothing inserted "
                    f"({result.users_created} users, {result.keys_created} keys, "
                    f"{result.organizations_created} organizations created) [{elapsed:.1f}s]")
            else:
                inserted = ", ".join(f"{k} {v:,}" for k, v in result.inserted.items())
                log(self.style.SUCCESS(
                    f"Seeded {db} in {elapsed:.1f}s: {result.users_created} users, "
                    f"{result.keys_created} API keys, {result.organizations_created} "
                    f"organizations, rows inserted: {inserted}"))

        if usage:
            engine = engine_for(registry.for_model(UsageRecord))
            writers = workers if engine.concurrent_writers else 1
            log(f"Adding {usage:,} usage rows over the last {days} days ({engine.name} engine, "
                f"{writers} writer(s))...")
            alongside = None
            if not usage_only:
                counts = {kind: round(usage * share)
                          for kind, share in demo.extra_event_shares().items()}

                def alongside():
                    log("  meanwhile adding proportionate rows: " + ", ".join(
                        f"{kind} {count:,}" for kind, count in counts.items()) + " …")
                    started = time.perf_counter()
                    added = demo.add_events(counts, days=days, log=log)
                    log(f"  added {sum(added.values()):,} {', '.join(added)} rows in "
                        f"{time.perf_counter() - started:.1f}s")

            started = time.perf_counter()
            try:
                # The bulk loader builds whole months in tables of its own and swaps them
                # in: partition changes are the owner's (logcenter.engines.postgres.db_roles).
                with db_roles.as_owner():
                    rows, seconds = demo.add_usage(usage, chunk=chunk, days=days,
                                                   workers=workers, log=log,
                                                   alongside=alongside)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            log(self.style.SUCCESS(
                f"Added {rows:,} usage rows in {seconds:.1f}s ({rows / seconds:,.0f} rows/s)"
                + ("" if usage_only else ", and the proportionate rows of the other kinds")
                + f"; {time.perf_counter() - started:.0f}s in all"))

        if verbosity:
            self.summary()

    def summary(self):
        w = self.stdout.write
        w("")
        w("Rows per kind:")
        for kind in registry:
            w(f"  {kind.slug:<7} {kind.model.objects.count():>10,}")
        w(f"  users   {User.objects.count():>10,}")
        w(f"  apikeys {ApiKey.objects.count():>10,}")
        w(f"  organizations {Organization.objects.count():>4,}")
        w("Sign-ins: `manage.py demo_logins` (make run prints them).")
