"""new-api's log API (seed 002) under /api/log/: its paths, parameters, `{success, message,
data}` envelope, field names and units, answered from the one query layer.

Its log types are Logcenter's kinds: 2 consume (usage rows that succeeded), 4 error (usage
rows that failed), 3 manage (audit rows), 5 system (system rows), 1 top-up (audit rows whose
action starts `topup.`). Rows of several kinds come merged newest first as the timeline
merges them; `id` is unique across them (the row's id times 8 plus its kind's place in the
registry). Page numbers carry an exact total (usage from the rollups, the other kinds
counted) and stop at MAX_DEPTH rows; the mapping is in docs/api.md.
"""

import json
from datetime import datetime
from datetime import timezone as dt_timezone

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.analytics import stats
from logcenter.api.usage import ByKeyThrottle
from logcenter.api.faces.common import (MAX_DEPTH, FaceError, log_query, numbered_page, one,
                                        refuse_unknown, whole)
from logcenter.core import selectors
from logcenter.core.access import access_for
from logcenter.core.registry import registry
from logcenter.core.timeline import kind_ranks, merged_page
from logcenter.retention import purge

TOP_UP, CONSUME, MANAGE, ERROR, SYSTEM = 1, 2, 3, 4, 5
TOP_UP_PREFIX = "topup."
SEARCH_LIMIT = 100
LATEST_TIME = 253402300799
# Their filters -> the usage FilterSet's (they select calls only).
USAGE_FILTERS = {"username": "username", "token_name": "api_key_name",
                 "model_name": "platform_model", "channel": "channel_id", "group": "group"}
WINDOW = ("start_timestamp", "end_timestamp")
LIST_PARAMETERS = ("p", "page_size", "type", *WINDOW, *USAGE_FILTERS)
SELF_PARAMETERS = tuple(name for name in LIST_PARAMETERS if name not in ("username", "channel"))


def _sources(log_type):
    """[(kind slug, usage status or None, extra condition)] of a log type (0: every one)."""
    topup = Q(action__startswith=TOP_UP_PREFIX)
    return {
        0: [("usage", None, Q()), ("audit", None, Q()), ("system", None, Q())],
        TOP_UP: [("audit", None, topup)],
        CONSUME: [("usage", "success", Q())],
        MANAGE: [("audit", None, ~topup)],
        ERROR: [("usage", "error", Q())],
        SYSTEM: [("system", None, Q())],
    }[log_type]


def _unix(params, name):
    text = one(params, name)
    if text in (None, "", "0"):
        return None
    if not text.isdigit() or int(text) > LATEST_TIME:
        raise FaceError(name, gettext("A Unix time in seconds."))
    return datetime.fromtimestamp(int(text), tz=dt_timezone.utc).isoformat()


def _queries(user, params, *, own):
    """[(kind, LogQuery, extra condition, usage parameters)] the parameters select."""
    log_type = whole(params, "type", 0, 0, 5)
    window = {ours: value for theirs, ours in zip(WINDOW, ("start_time", "end_time"))
              if (value := _unix(params, theirs))}
    if "start_time" not in window:
        window["range"] = "all"  # new-api's lists have no default window
    calls = {ours: value for theirs, ours in USAGE_FILTERS.items()
             if (value := one(params, theirs))}
    theirs = {ours: name for name, ours in USAGE_FILTERS.items()}
    theirs.update(start_time="start_timestamp", end_time="end_timestamp")
    found = []
    for slug, status, extra in _sources(log_type):
        kind = registry.get(slug)
        if kind is None or not access_for(user, kind).can_view or (calls and slug != "usage"):
            continue
        given = dict(window)
        if slug == "usage":
            given.update(calls, **({"status": status} if status else {}))
        if own:
            given[kind.owner_field] = str(user.pk)
        found.append((kind, log_query(kind, user, given, theirs), extra, given))
    return found


def row_type(kind, row):
    if kind.slug == "usage":
        return ERROR if row.status == "error" else CONSUME
    if kind.slug == "audit":
        return TOP_UP if row.action.startswith(TOP_UP_PREFIX) else MANAGE
    return SYSTEM


def item(kind, row):
    """A row with new-api's field names and units."""
    base = {"id": row.pk * 8 + kind_ranks()[kind.slug], "user_id": None, "created_at": int(row.occurred_at.timestamp()),
            "type": row_type(kind, row), "content": "", "username": row.actor_name,
            "token_name": "", "model_name": "", "quota": 0, "prompt_tokens": 0,
            "completion_tokens": 0, "use_time": 0, "is_stream": False, "channel_id": "",
            "channel_name": "", "token_id": "", "group": "", "ip": row.ip or "",
            "other": json.dumps({"kind": kind.slug, "event_id": str(row.event_id),
                                 "request_id": row.request_id}, ensure_ascii=False)}
    if kind.slug == "usage":
        other = {"kind": "usage", "event_id": str(row.event_id), "request_id": row.request_id,
                 "upstream_model": row.upstream_model,
                 "cost": None if row.cost is None else format(row.cost, "f")}
        return {**base, "user_id": row.user_id, "content": row.error_message,
                "username": row.username, "token_name": row.api_key_name,
                "model_name": row.platform_model, "quota": row.quota or 0,
                "prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens,
                "use_time": round((row.latency_ms or 0) / 1000), "is_stream": row.is_stream,
                "channel_id": row.channel_id, "channel_name": row.upstream_name,
                "token_id": row.api_key_id, "group": row.group,
                "other": json.dumps(other, ensure_ascii=False)}
    if kind.slug == "audit":
        return {**base, "user_id": row.actor_id,
                "content": " ".join(part for part in (row.action, row.resource_name) if part)}
    return {**base, "user_id": row.actor_id, "content": row.message or row.event}


def _page(user, params, *, own):
    page = whole(params, "p", 1, 1, MAX_DEPTH)
    size = whole(params, "page_size", 20, 1, 100)
    entries, total = numbered_page(user, _queries(user, params, own=own), page, size, "p")
    return {"items": [item(e.kind, e.row) for e in entries], "total": total, "page": page,
            "page_size": size}


def _stat(user, params, *, own):
    """{quota, rpm, tpm} of the calls the parameters select."""
    log_type = whole(params, "type", 0, 0, 5)
    if log_type not in (0, CONSUME, ERROR):
        return {"quota": 0, "rpm": 0, "tpm": 0}
    queries = _queries(user, params, own=own)
    usage = next((given for kind, _, _, given in queries if kind.slug == "usage"), None)
    if usage is None:
        return {"quota": 0, "rpm": 0, "tpm": 0}
    try:
        figures = stats.usage_stats(user, usage)
    except stats.StatsError as exc:
        raise FaceError(exc.field, exc.reason) from None
    return {"quota": figures.get("quota", 0), "rpm": figures["rpm"], "tpm": figures["tpm"]}


def _search(user, params, *, own):
    keyword = one(params, "keyword")
    if not keyword:
        raise FaceError("keyword", gettext("Give a keyword."))
    queries = []
    for slug in ("usage", "audit", "system"):
        kind = registry.get(slug)
        if kind is None or not access_for(user, kind).can_view:
            continue
        given = {"q": keyword, "range": "all"}
        if own:
            given[kind.owner_field] = str(user.pk)
        queries.append((kind, log_query(kind, user, given, {"q": "keyword"}).queryset))
    entries, _ = merged_page(user, queries, SEARCH_LIMIT)
    return [item(e.kind, e.row) for e in entries]


def _sees_everyone(user):
    """new-api's admin endpoints: platform staff who see everyone's calls, or an
    organization's owner/admin/auditor (their organization's)."""
    return access_for(user, registry["usage"]).sees_others


class NewApiView(APIView):
    """One new-api path: `answer(request)` gives `data`; errors become its envelope."""

    parameters = ()
    admin = False

    def answer(self, request):
        raise NotImplementedError

    def get(self, request):
        refuse_unknown(request.query_params, self.parameters)
        if self.admin and not _sees_everyone(request.user):
            raise FaceError(None, gettext("This needs an administrator."), status=403)
        return Response({"success": True, "message": "", "data": self.answer(request)})

    def handle_exception(self, exc):
        if isinstance(exc, FaceError):
            where = f"{exc.param}: " if exc.param else ""
            return Response({"success": False, "message": where + exc.message},
                            status=exc.status)
        if isinstance(exc, (DjangoPermissionDenied, exceptions.PermissionDenied)):
            return Response({"success": False, "message": str(exc)}, status=403)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            return Response({"success": False, "message": str(exc.detail)}, status=401,
                            headers={"WWW-Authenticate": 'Bearer realm="api"'})
        return super().handle_exception(exc)


ENVELOPE = {"success": serializers.BooleanField(), "message": serializers.CharField(),
            "data": serializers.JSONField()}


def _schema(name, parameters):
    return extend_schema(tags=["compat: new-api (002)"],
                         parameters=[OpenApiParameter(p, str) for p in parameters],
                         responses=inline_serializer(name, ENVELOPE))


class LogsView(NewApiView):
    """GET /api/log/: every log (admin); DELETE /api/log/?target_timestamp=: delete history."""

    parameters, admin = LIST_PARAMETERS, True

    @_schema("NewApiLogs", LIST_PARAMETERS)
    def get(self, request):
        return super().get(request)

    def answer(self, request):
        return _page(request.user, request.query_params, own=False)

    @_schema("NewApiDeleteLogs", ("target_timestamp",))
    def delete(self, request):
        """Queue the deletion of every kind's rows before target_timestamp (new-api's
        history deletion); answers with the rows it will delete and the jobs to follow."""
        params = request.query_params
        refuse_unknown(params, ("target_timestamp",))
        if not request.user.has_perm("logcenter.add_deletionjob"):
            raise FaceError(None, gettext("This needs an administrator."), status=403)
        before = _unix(params, "target_timestamp")
        if before is None:
            raise FaceError("target_timestamp", gettext("A Unix time in seconds."))
        before = datetime.fromisoformat(before)
        slugs = [slug for slug in ("usage", "audit", "system") if registry.get(slug)]
        # Every kind may delete, or none is asked to (no half-done history deletion).
        for slug in slugs:
            try:
                purge.deletion_check(slug, before)
            except purge.LegalHold as exc:
                raise FaceError("target_timestamp", str(exc), status=409) from None
            except purge.NotExpired as exc:
                raise FaceError("target_timestamp", str(exc)) from None
        jobs = [purge.deletion_request(actor=request.user, kind_slug=slug, before=before)
                for slug in slugs]
        return Response({"success": True, "message": gettext(
            "Deletion queued: follow the jobs on the Retention page."),
            "data": sum(job.estimated_total or 0 for job in jobs),
            "jobs": [str(job.job_id) for job in jobs]})


class SelfLogsView(NewApiView):
    """GET /api/log/self: your own logs."""

    parameters = SELF_PARAMETERS

    @_schema("NewApiSelfLogs", SELF_PARAMETERS)
    def get(self, request):
        return super().get(request)

    def answer(self, request):
        return _page(request.user, request.query_params, own=True)


class StatView(NewApiView):
    parameters, admin = tuple(n for n in LIST_PARAMETERS if n not in ("p", "page_size")), True

    @_schema("NewApiStat", parameters)
    def get(self, request):
        return super().get(request)

    def answer(self, request):
        return _stat(request.user, request.query_params, own=False)


class SelfStatView(NewApiView):
    parameters = tuple(n for n in SELF_PARAMETERS if n not in ("p", "page_size"))

    @_schema("NewApiSelfStat", parameters)
    def get(self, request):
        return super().get(request)

    def answer(self, request):
        return _stat(request.user, request.query_params, own=True)


class SearchView(NewApiView):
    parameters, admin = ("keyword",), True

    @_schema("NewApiSearch", ("keyword",))
    def get(self, request):
        return super().get(request)

    def answer(self, request):
        return _search(request.user, request.query_params, own=False)


class SelfSearchView(NewApiView):
    parameters = ("keyword",)

    @_schema("NewApiSelfSearch", ("keyword",))
    def get(self, request):
        return super().get(request)

    def answer(self, request):
        return _search(request.user, request.query_params, own=True)


class TokenLogsView(NewApiView):
    """GET /api/log/token?key=: the calls of a key, for its holder (no sign-in: the key is
    the credential, as the by-key lookup)."""

    parameters = ("key",)
    authentication_classes = []
    permission_classes = []
    throttle_classes = [ByKeyThrottle]

    @_schema("NewApiTokenLogs", ("key",))
    def get(self, request):
        return super().get(request)

    def answer(self, request):
        from accounts.models import ApiKey

        secret = (one(request.query_params, "key") or "").strip()
        key = ApiKey.from_secret(secret) if secret and "\x00" not in secret else None
        if key is None or not key.owner.is_active:
            raise FaceError("key", gettext("Unknown or revoked key."), status=401)
        kind = registry["usage"]
        return [item(kind, row) for row in selectors.usage_of_key(key, SEARCH_LIMIT)]
