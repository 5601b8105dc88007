"""Each kind's seal and last verification, for the console's Integrity page and the API."""

from dataclasses import dataclass

from logcenter.core.access import access_for
from logcenter.integrity.models import DigestBlock, IntegrityCheck

UNSEALED_CAP = 100_000


@dataclass
class KindStatus:
    kind: object  # the LogKind
    blocks: int
    sealed_up_to_id: int | None
    head_digest: str
    last_sealed_at: object
    unsealed_rows: int
    last_check: IntegrityCheck | None

    @property
    def unsealed_capped(self):
        return self.unsealed_rows > UNSEALED_CAP


def verifiable_kinds(user):
    """The kinds `user` may verify: those whose every row they may see (view_all)."""
    from logcenter.core.registry import registry

    return [kind for kind in registry if access_for(user, kind).can_view_all]


def kind_status(kind):
    head = (DigestBlock.objects.filter(kind=kind.slug).order_by("-seq")
            .values("seq", "last_id", "digest", "created_at").first())
    after = head["last_id"] if head else 0
    unsealed = kind.model.objects.filter(pk__gt=after)[:UNSEALED_CAP + 1].count()
    return KindStatus(
        kind=kind, blocks=head["seq"] if head else 0,
        sealed_up_to_id=head["last_id"] if head else None,
        head_digest=head["digest"] if head else "",
        last_sealed_at=head["created_at"] if head else None, unsealed_rows=unsealed,
        last_check=IntegrityCheck.objects.filter(kind=kind.slug).first())


def kinds_status(user):
    return [kind_status(kind) for kind in verifiable_kinds(user)]


def as_dict(status):
    check = status.last_check
    return {
        "kind": status.kind.slug, "label": status.kind.label, "blocks": status.blocks,
        "sealed_up_to_id": status.sealed_up_to_id, "head_digest": status.head_digest,
        "last_sealed_at": status.last_sealed_at,
        "unsealed_rows": min(status.unsealed_rows, UNSEALED_CAP),
        "last_check": None if check is None else {
            "checked_at": check.finished_at or check.started_at,
            "requested_by": check.requested_by, "scope": check.scope, "ok": check.ok,
            "summary": check.summary, "first_problem": check.problem or None},
    }
