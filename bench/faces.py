"""The compatibility faces and the timeline on the big database, as their clients call them.

    .venv/bin/python bench/query.py faces [--runs 20]

new-api's GET /api/log/ page 1 and page 200 over 7 days (exact totals), the gateway audit
list of the busiest organization (page 1, exact total), OpenAI's costs over 30 days by
project and line item, the audit query API with eventType=auth.* and its summary, and the
Timeline page for one user over 30 days. One JSON line per case: p50/p95 ms, the response
size, and what it answered (rows, total).
"""

from datetime import timedelta

from _common import report, signed_in_client, summary, timed_gets

TARGETS = {"list": 60, "totals": 100}


def add_arguments(parser):
    parser.add_argument("--runs", type=int, default=20)


def run(args):
    from django.utils import timezone

    from query import busiest_organization, organization_admin_client
    from logcenter.models import UsageRecord

    user, client = signed_in_client()
    now = timezone.now()
    week_ago = str(int((now - timedelta(days=7)).timestamp()))
    month_ago = str(int((now - timedelta(days=30)).timestamp()))
    busy_user = (UsageRecord.objects.filter(occurred_at__gte=now - timedelta(days=1))
                 .exclude(user_id="").values_list("user_id", flat=True).first())
    organization = busiest_organization()
    org_client = organization_admin_client(organization)[1] if organization else None
    cases = [
        ("new-api /api/log/ page 1, 7 d", client, "/api/log/",
         {"p": "1", "page_size": "20", "type": "2", "start_timestamp": week_ago}, "totals"),
        ("new-api /api/log/ page 200, 7 d", client, "/api/log/",
         {"p": "200", "page_size": "20", "type": "2", "start_timestamp": week_ago}, "totals"),
        ("004 /api/audit/logs eventType=auth.*", client, "/api/audit/logs",
         {"eventType": "auth.*", "limit": "100"}, "totals"),
        ("timeline: one user, 30 d", client, "/logs/timeline/",
         {"user": busy_user or "1", "range": "30d"}, "list"),
    ]
    if org_client is not None:
        cases += [
            ("000 /v1/audit/logs, busiest organization", org_client, "/v1/audit/logs",
             {"page": "1", "page_size": "20"}, "totals"),
            ("003 /v1/organization/costs, 30 d by project and line item", org_client,
             "/v1/organization/costs",
             {"start_time": month_ago, "bucket_width": "1d", "limit": "31",
              "group_by[]": ["project_id", "line_item"]}, "list"),
        ]
    for name, who, url, query, target in cases:
        response = who.get(url, query)
        body = response.content
        timings = timed_gets(who, url, query, args.runs)
        report(case=name, status=response.status_code, bytes=len(body),
               target_ms=TARGETS[target], **summary(timings))
