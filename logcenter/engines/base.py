"""The storage engine interface: the operations the product needs from a store.

Each method's docstring is its contract; the portable engine (logcenter.engines.orm)
implements all of them with the Django ORM, the PostgreSQL engine
(logcenter.engines.postgres) overrides the ones it does faster. A method receives the
kind, model or queryset it works on; querysets are already filtered and scoped by the
selectors (visibility and filters are never an engine's business).
"""

from contextlib import AbstractContextManager


class NotExpired(Exception):
    """The store refused a purge: the rows asked for are not expired, or on legal hold."""


class Engine:
    """What every engine provides. Unimplemented operations raise NotImplementedError."""

    name = "abstract"

    # --- ingest ------------------------------------------------------------------------

    def store(self, kind, rows) -> int:
        """Insert `rows` (dicts of model field values, validated, unique by event_id within
        the batch) whose event_id is new for the kind; return how many were inserted. An
        event_id already stored is a duplicate, whatever its occurred_at. Runs inside the
        caller's transaction; whatever the kind's figures (rollups) need is kept in step,
        in that transaction."""
        raise NotImplementedError

    def after_ingest(self, kind) -> None:
        """After the batch's transaction committed: follow-up work that may lag (asking
        for a rollup fold). Never fails the batch."""

    # --- listing -----------------------------------------------------------------------

    def page(self, kind, filterset, queryset, carried=None) -> tuple:
        """(the KeysetPage of `queryset` that the validated filterset's ordering, cursor
        and page size select, the store's estimate of the matches if it asked for one,
        else None; the total reuses it). `carried`: the total the cursor carries, to plan
        a deeper page without asking again. Plans come from the data (estimates, counts),
        never from a clock: the same request reads the same rows however busy the store."""
        raise NotImplementedError

    def count_capped(self, queryset, cap: int) -> tuple[int, bool]:
        """(matches counted up to `cap`, whether there are more): never a full count."""
        raise NotImplementedError

    def count_listed(self, kind, filterset, queryset, cap: int) -> tuple[int, bool]:
        """count_capped() of a list's matches (the total beside its page); `filterset`:
        the list's validated filters."""
        return self.count_capped(queryset, cap)

    def estimate(self, queryset) -> int | None:
        """The store's estimate of the matches without reading rows, or None when it has
        none (the caller then shows the capped count only)."""
        raise NotImplementedError

    def text_candidates(self, model, fields, value):
        """A condition met by every row of `model` holding `value` (case aside) in one of
        `fields` (the kind's search_fields), that an index of the store answers, for the
        search to check its exact condition on those rows only; None where it has none."""
        return None

    # --- stats -------------------------------------------------------------------------

    def rollup_pending(self) -> list:
        """Models of sums ingested but not yet folded into the rollups, which stats add
        to the rollups' (the PostgreSQL inbox); [] when rollups are always current."""
        raise NotImplementedError

    def one_snapshot(self) -> AbstractContextManager:
        """A block whose reads see one snapshot (the pieces of one stats answer)."""
        raise NotImplementedError

    def reads_one_snapshot(self) -> bool:
        """Whether the reads made now see one snapshot (then what they say about closed
        hours may be cached under the version they read with it)."""
        return True

    def buckets(self, query, pieces, edges, tz) -> dict:
        """{bucket start (UTC): [presented groups]} for the stats pieces
        [(queryset, group fields, {measure: column})]: summed per bucket and group,
        ranked and presented as analytics.stats._ranked does. Rows outside `edges` are
        left out; `tz`: the zone the bucket starts were cut in."""
        raise NotImplementedError

    def grouped_together(self, entries) -> list:
        """[analytics.stats._grouped(*piece, query) for piece, query in entries], for
        pieces reading the same rows, each grouped its own way (an engine may read them
        once for all)."""
        raise NotImplementedError

    def latest_calls(self, queryset, sample: int, since) -> dict:
        """Figures of the newest `sample` + 1 rows of `queryset` (usage), in one read:
        {"p95": latency_ms's 95th percentile as percentile_disc (0 with no row), "rows":
        how many were read, "oldest": the oldest one's occurred_at, "since_requests" /
        "since_tokens": the calls and total_tokens among them at or after `since`}."""
        raise NotImplementedError

    # --- rollups (the usage figures) ----------------------------------------------------

    def rollup_add(self, rows) -> None:
        """Add saved UsageRecord instances to every rollup, beside concurrent adds."""
        raise NotImplementedError

    def rollup_fold(self) -> int | None:
        """Fold pending sums into the rollups: how many pending rows were folded (0 with
        none), None when another fold is running."""
        raise NotImplementedError

    def rollup_rebuild(self, start=None, end=None) -> None:
        """Recompute every rollup for whole hours in [start, end] from the raw rows."""
        raise NotImplementedError

    # --- exports -----------------------------------------------------------------------

    # Whether export_copy streams the file's formatted rows; else the export writes rows
    # it reads through the queryset itself (exports.jobs.export_rows).
    formats_exports = False

    def export_copy(self, queryset, columns, access, fmt, on_chunk) -> None:
        """Stream the export file's rows (no header) as bytes to on_chunk(bytes): cells
        formatted as exports.jobs.ExportWriter writes them and masked for `access`; CSV
        formula neutralising is left to ExportWriter.write_copied. Only if
        formats_exports."""
        raise NotImplementedError

    # --- log streams -------------------------------------------------------------------

    def stream_documents(self, kind, masked, hidden):
        """A reader of `kind`'s rows with each event document built by the store, for a
        destination's field rules (`masked`: sent as "[masked]"; `hidden`: left out), or
        None: the stream builds them in Python (streams.documents.DocumentBuilder). Its
        `read(rows, after, end, limit)` returns up to `limit` rows of the queryset `rows`
        with ids in (after, end], in id order, as (id, ingested_at, head, record): `head`
        the JSON text of the document's fields before `record`, `record` the JSON text of
        its record, which parse to exactly what DocumentBuilder.build makes."""
        return None

    # --- retention ---------------------------------------------------------------------

    def purge_batch(self, model, before, batch_size, organization_id=None) -> int:
        """Delete up to `batch_size` of `model`'s rows with occurred_at before `before`,
        oldest first, in one transaction; return how many. `organization_id`: only that
        organization's rows (its plan's window); None: every row but those of
        organizations on legal hold (core.selectors.purgeable_rows). Raise NotExpired when
        the store refuses (not expired, legal hold)."""
        raise NotImplementedError

    def drop_expired(self, kind, cutoff) -> dict | None:
        """Drop whole stored units (months) of `kind` that end on or before `cutoff`:
        {unit: rows}, {} when none or the store has none, None when it is busy (the kind
        is then left for the next run)."""
        raise NotImplementedError

    # --- planner upkeep ----------------------------------------------------------------

    def planner_upkeep(self) -> list:
        """Refresh the store's statistics of the log tables that changed enough; return
        the tables refreshed ([] where the store plans without)."""
        raise NotImplementedError

    def prepare_ahead(self, start, end) -> list:
        """Create ahead of time what the store needs to take rows dated in [start, end]
        (monthly partitions); return the names created ([] where it needs nothing)."""
        raise NotImplementedError

    # --- integrity (sealing and verifying) ----------------------------------------------

    # Whether several processes may read one kind's rows side by side (verify --workers).
    parallel_reads = False

    def row_leaves(self, model, after, upto=None, *, limit=None, with_time=False):
        """(id, leaf) or, `with_time`, (id, leaf, occurred_at) of `model`'s rows with
        after < id <= upto (None: no bound), at most `limit`, in id order; each leaf as
        logcenter.integrity.canonical.orm_leaves computes it. Inside a transaction."""
        raise NotImplementedError

    def try_exclusive(self, key: int) -> AbstractContextManager:
        """A block holding the store-wide lock `key` when no other session holds it: it
        yields whether it got it (one sealing run at a time)."""
        raise NotImplementedError

    def take_turn(self, name: str) -> None:
        """Wait for the lock `name`, held until the caller's transaction ends (one writer
        of a kind's chain at a time)."""
        raise NotImplementedError

    def seal_horizons(self, kinds, settle: float, wait: float) -> tuple[dict, str]:
        """({slug: the highest id safe to seal, None for no limit}, ""), or ({}, why not)
        when writers stayed open past `wait` seconds. Safe: no transaction still open
        can insert a row at or below it."""
        raise NotImplementedError

    # --- bulk loads (seed_demo --usage: benchmarks' millions of rows, not ingestion) -----

    # Whether several connections (threads, processes) may write at once (SQLite: one).
    concurrent_writers = False

    def bulk_load(self, kind, fields, start, end, count) -> "BulkLoad":
        """A BulkLoad of `count` rows of `kind`, each a tuple of the values of `fields`
        (every concrete field but the primary key) with occurred_at in [start, end). Rows
        are appended as they are: no ledger, no duplicate check, no rollups (the caller
        rebuilds those)."""
        raise NotImplementedError

    def after_bulk_load(self, models) -> None:
        """After many rows went into the tables of `models` at once: what the store would
        do next on its own, done now (planner statistics)."""
        raise NotImplementedError


class BulkLoad:
    """One bulk load (Engine.bulk_load): `write` every chunk, then `finish` once."""

    finishing = ""  # what finish() does, for a progress line

    def write(self, first, rows) -> None:
        """Append `rows`: tuples of the load's field values (JSON and decimals as text),
        sorted by occurred_at; `first`: the position of the chunk's first row among the
        load's `count`. Chunks come in any order and, when the engine has
        concurrent_writers, from several processes forked after the load began."""
        raise NotImplementedError

    def finish(self) -> None:
        """Once, after the last write, in the process that began the load: make the rows
        whole as the store keeps its tables (indexes, statistics)."""
        raise NotImplementedError
