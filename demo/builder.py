"""The demo's generators, one per kind, and the builder that runs them.

A kind's generator is a function registered for its slug with `@generates(slug, ...)`: it
takes the `DemoBuilder` (its `rng`, `now`, `clock`, `people`, `keys`, `counts`, the `rows`
of the kinds it builds `after`, and `stories` those kinds left for the others) and returns
the kind's unsaved rows. Generators are found per registered kind: in `demo.<slug>` (the
four kinds of the product) or in the `demo` module of the kind's own app (a kind registered
by another app, like tests/fifth_kind). A kind without one fails tests/logcenter/test_kinds.py.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module

from logcenter.core.registry import registry
from logcenter.models import CONSOLE

from demo.common import DEMO_NAMESPACE

DEFAULT_COUNT = 500  # rows of the 30-day demo, unless the generator says otherwise
CONTEXT_ROWS = 2_000  # rows of a kind built only for the others to refer to (add_events)


@dataclass(frozen=True)
class Generator:
    slug: str
    make: object  # make(builder) -> unsaved rows
    count: int  # rows of the 30-day demo
    after: tuple  # kinds whose rows (and stories) it reads: built first
    extra_share: float  # rows per extra usage row of `seed_demo --usage` (0: none)


_registered = {}


def generates(slug, *, count=DEFAULT_COUNT, after=(), extra_share=0.0):
    """Register the decorated function as the demo generator of the kind `slug`."""
    def register(make):
        _registered[slug] = Generator(slug, make, count, tuple(after), extra_share)
        return make
    return register


class _Generators(Mapping):
    """{kind slug: its Generator}, for every registered kind that has one."""

    def _generators(self):
        for kind in registry:
            for module in (f"demo.{kind.slug}", f"{kind.model._meta.app_config.name}.demo"):
                try:
                    import_module(module)
                except ModuleNotFoundError as error:
                    if not (module == error.name or module.startswith(f"{error.name}.")):
                        raise  # the module exists and failed to import something
        return {kind.slug: _registered[kind.slug] for kind in registry
                if kind.slug in _registered}

    def __getitem__(self, slug):
        return self._generators()[slug]

    def __iter__(self):
        return iter(self._generators())

    def __len__(self):
        return len(self._generators())


DEMO_GENERATORS = _Generators()


def generator_for(kind):
    """The kind's Generator, or None."""
    return DEMO_GENERATORS.get(kind.slug)


def demo_counts(counts=None):
    """Rows per kind of the 30-day demo: each generator's count, for every registered kind."""
    counts = counts or {}
    generators = dict(DEMO_GENERATORS)
    return {kind.slug: counts.get(kind.slug, getattr(generators.get(kind.slug), "count",
                                                     DEFAULT_COUNT))
            for kind in registry}


def extra_event_shares():
    """{slug: rows per extra usage row} of the kinds `seed_demo --usage` adds in proportion."""
    return {slug: g.extra_share for slug, g in DEMO_GENERATORS.items() if g.extra_share}


def demo_id(kind, n):
    return uuid.uuid5(DEMO_NAMESPACE, f"{kind}:{n}")


class DemoBuilder:
    """Runs the generators of the kinds asked for (and of those they are built after), so
    that rows correlate across kinds (a usage row's request_id on its audit and system
    events), then numbers each kind's rows in time order."""

    def __init__(self, rng, now, clock, people, keys, counts):
        self.rng = rng
        self.now = now
        self.clock = clock
        self.people = people
        self.keys = keys
        self.counts = counts
        self.by_username = {p.user.username: p for p in people}
        self.by_user_id = {str(p.user.pk): p for p in people}
        self.keys_by_sid = {k.sid: k for k in keys}
        self.rows = {kind.slug: [] for kind in registry}
        self.stories = {}  # what one kind's generator leaves for the others (the outage, …)

    def build(self, slugs=None):
        """Build the kinds `slugs` (default: every kind with a count), each after the kinds
        it reads, in registry order otherwise; returns {slug: rows}."""
        generators = dict(DEMO_GENERATORS)
        if slugs is None:
            slugs = [kind.slug for kind in registry if self.counts.get(kind.slug)]
        order = []

        def visit(slug):
            for before in generators[slug].after:
                visit(before)
            if slug not in order:
                order.append(slug)

        for kind in registry:
            if kind.slug in slugs:
                visit(kind.slug)
        for slug in order:
            self.rows[slug] = list(generators[slug].make(self))
        for slug in order:
            rows = self.rows[slug]
            rows.sort(key=lambda r: r.occurred_at)
            for n, row in enumerate(rows):
                row.event_id = demo_id(slug, n)
                if not row.ingested_by:  # the console wrote it (sign-ins, its own tasks)
                    row.ingested_by, row.ingested_by_name = CONSOLE, "Logcenter console"
                if row.ingested_at > self.now:
                    row.ingested_at = self.now
                if not row.organization_id:
                    row.organization_id, row.project_id = self.customer_of(row)
        return self.rows

    def customer_of(self, row):
        """(organization_id, project_id) of the row's key or user, as ingestion and the
        console fill them: a key's project, or a person's organization ("" for staff)."""
        key_id = getattr(row, "api_key_id", "") or (
            row.actor_id if row.actor_type == "api_key" else "")
        key = self.keys_by_sid.get(key_id)
        if key is not None:
            return key.organization_id, key.project_id
        user_id = getattr(row, "user_id", "") or (
            row.actor_id if row.actor_type == "user" else "")
        person = self.by_user_id.get(user_id)
        return (person.organization_id, "") if person is not None else ("", "")


class KindMaker:
    """A generator's working state for one build: the builder's world at hand and the rows
    it makes (`rows`)."""

    def __init__(self, builder):
        self.builder = builder
        self.rng, self.now, self.clock = builder.rng, builder.now, builder.clock
        self.people, self.keys, self.counts = builder.people, builder.keys, builder.counts
        self.by_username = builder.by_username
        self.rows = []
