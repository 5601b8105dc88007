"""The console's languages: English, 简体中文 (zh-Hans) and 繁體中文 (zh-Hant).

The catalogs are complete (every message has both translations, and nothing in the code or
templates is missing from them), templates hold no visible text outside translate tags,
browsers' Chinese tags map to a script as new-api maps them, the switcher and the user's
saved preference choose the language, and the API's error messages follow Accept-Language
while its field names stay English."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from accounts.middleware import supported_language
from logcenter.models import AuditEvent

BASE = Path(settings.BASE_DIR)
LOCALES = ("zh_Hans", "zh_Hant")


# --- the catalogs ----------------------------------------------------------------------

def read_po(path):
    """[{msgctxt, msgid, msgid_plural, msgstr: [..], flags, obsolete}] of a .po file."""
    entries, entry, field = [], None, None
    for line in Path(path).read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry is not None:
                entries.append(entry)
            entry = None
            continue
        if entry is None:
            entry = {"msgctxt": None, "msgid": None, "msgid_plural": None, "msgstr": {},
                     "flags": set(), "obsolete": False}
        if line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            pass
        elif match := re.match(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])? (".*")$',
                               line):
            keyword, index, text = match.groups()
            field = (keyword, int(index or 0))
            value = ast.literal_eval(text)
            if keyword == "msgstr":
                entry["msgstr"][field[1]] = value
            else:
                entry[keyword] = value
        elif line.startswith('"'):
            keyword, index = field
            value = ast.literal_eval(line)
            if keyword == "msgstr":
                entry["msgstr"][index] += value
            else:
                entry[keyword] += value
    return entries


def messages(entries):
    """The catalog's live messages, without its header."""
    return [e for e in entries if not e["obsolete"] and e["msgid"]]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_has_a_translation(locale):
    entries = messages(read_po(BASE / "locale" / locale / "LC_MESSAGES" / "django.po"))
    assert len(entries) > 300
    untranslated = [e["msgid"] for e in entries
                    if not e["msgstr"] or any(not text.strip() for text in e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert not untranslated, f"{locale}: messages without a translation: {untranslated}"
    assert not fuzzy, f"{locale}: fuzzy (unchecked) translations: {fuzzy}"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_survive_translation(locale):
    """A translation keeps each placeholder of its message ({kind}, %(n)s), or the page
    raises (or shows the wrong figure) in that language only."""
    pattern = re.compile(r"%\(\w+\)s|\{\w+\}")
    for entry in messages(read_po(BASE / "locale" / locale / "LC_MESSAGES" / "django.po")):
        wanted = sorted(set(pattern.findall(entry["msgid"])))
        for text in entry["msgstr"].values():
            assert sorted(set(pattern.findall(text))) == wanted, (locale, entry["msgid"], text)


def test_simplified_and_traditional_use_their_own_terms():
    """Each script's own words, not a character conversion of the other's."""
    def catalog(locale):
        return {e["msgid"]: e["msgstr"][0] for e in messages(
            read_po(BASE / "locale" / locale / "LC_MESSAGES" / "django.po"))}

    hans, hant = catalog("zh_Hans"), catalog("zh_Hant")
    for msgid, simplified, traditional in [
            ("User", "用户", "使用者"), ("Sign in", "登录", "登入"), ("quota", "配额", "額度"),
            ("Exports", "导出", "匯出"), ("API key", "API 密钥", "API 金鑰"),
            ("Audit", "审计", "稽核"), ("Channel", "渠道", "渠道"),
            ("Back to the logs", "返回日志", "返回日誌")]:
        assert (hans[msgid], hant[msgid]) == (simplified, traditional), msgid


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The catalogs as `makemessages` leaves them after reading today's code and templates:
    run on a copy of the project (code, templates and catalogs), never on the real files."""
    if not shutil.which("xgettext") or not shutil.which("msgmerge"):
        pytest.fail("gettext is not installed: apt-get install -y gettext")
    copy = tmp_path_factory.mktemp("catalogs") / "project"
    skipped = {".venv", ".git", "var", "staticfiles", "static", "tests", "bench", "docs",
               "test-artifacts", "node_modules", "__pycache__", ".pytest_cache", "demo"}
    shutil.copytree(BASE, copy, ignore=lambda folder, names: [
        n for n in names if n in skipped or n.endswith((".mo", ".sqlite3", ".pyc"))])
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "makemessages", "--no-location",
                    *(f"--locale={locale}" for locale in LOCALES)],
                   cwd=copy, env=env, check=True, capture_output=True)
    return copy


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogs_hold_every_message_of_the_code_and_templates(extracted, locale):
    """A string newly marked for translation, and not yet in the catalogs, fails here
    (as does a message the code no longer has): run makemessages and translate it."""
    relative = Path("locale") / locale / "LC_MESSAGES" / "django.po"
    ours = {(e["msgctxt"], e["msgid"]) for e in messages(read_po(BASE / relative))}
    entries = read_po(extracted / relative)
    found = {(e["msgctxt"], e["msgid"]) for e in messages(entries)}
    assert not found - ours, f"{locale}: not in the catalog yet: {sorted(found - ours)}"
    assert not ours - found, f"{locale}: no longer in the code: {sorted(ours - found)}"


# --- templates -------------------------------------------------------------------------

# Visible words a template may hold as they are: the product's name and format names.
ALLOWED_WORDS = {"Logcenter", "CSV", "JSON", "NDJSON"}
VISIBLE_ATTRIBUTES = re.compile(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"')


def visible_literals(source):
    """The words of a template a reader would see that no translate tag covers."""
    text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", " ", source, flags=re.S)
    text = re.sub(r"{#.*?#}", " ", text, flags=re.S)
    text = re.sub(r"{%\s*blocktranslate\b.*?{%\s*endblocktranslate\s*%}", " ", text,
                  flags=re.S)
    text = re.sub(r"{%.*?%}|{{.*?}}", " ", text, flags=re.S)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    attributes = VISIBLE_ATTRIBUTES.findall(text)
    text = re.sub(r"<[^>]*>", " ", text)
    words = re.findall(r"[^\W\d_]{2,}", " ".join([text, *attributes]))
    return [word for word in words if word not in ALLOWED_WORDS]


def test_templates_have_no_untranslated_text():
    templates = sorted((BASE / "templates").rglob("*.html"))
    assert templates
    found = {str(path.relative_to(BASE)): words for path in templates
             if (words := visible_literals(path.read_text(encoding="utf-8")))}
    assert not found, f"text outside translate tags: {found}"


def test_the_template_check_sees_text_and_attributes():
    assert visible_literals("<p>Hello {{ name }}</p>") == ["Hello"]
    assert visible_literals('<a title="Sort rows">{% translate "Sort" %}</a>') == ["Sort",
                                                                                  "rows"]
    assert visible_literals('{% blocktranslate %}Hi {{ n }}{% endblocktranslate %} · 3') == []
    assert visible_literals("<span>Logcenter</span> {# a note #}") == []


# --- choosing the language -------------------------------------------------------------

@pytest.mark.parametrize("code, language", [
    ("zh", "zh-hans"), ("zh-CN", "zh-hans"), ("zh-SG", "zh-hans"), ("zh-Hans", "zh-hans"),
    ("zh-Hans-CN", "zh-hans"), ("zh_CN", "zh-hans"),
    ("zh-TW", "zh-hant"), ("zh-HK", "zh-hant"), ("zh-MO", "zh-hant"), ("zh-Hant", "zh-hant"),
    ("zh-Hant-TW", "zh-hant"),
    ("en", "en"), ("en-US", "en"), ("en-GB", "en"), ("fr-FR", None), ("de", None),
])
def test_browser_language_codes(code, language):
    assert supported_language(code) == language


@pytest.mark.django_db
@pytest.mark.parametrize("header, language, text", [
    ("zh-TW,zh;q=0.9,en;q=0.8", "zh-hant", "登入 Logcenter"),
    ("zh-HK", "zh-hant", "登入 Logcenter"),
    ("zh-MO", "zh-hant", "登入 Logcenter"),
    ("zh-CN,zh;q=0.9", "zh-hans", "登录 Logcenter"),
    ("zh-SG", "zh-hans", "登录 Logcenter"),
    ("zh", "zh-hans", "登录 Logcenter"),
    ("fr-FR,zh-TW;q=0.5", "zh-hant", "登入 Logcenter"),  # the first language we speak
    ("fr-FR,de;q=0.8", "en", "Sign in to Logcenter"),
    ("", "en", "Sign in to Logcenter"),
])
def test_the_sign_in_page_follows_the_browser(client, header, language, text):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=header)
    assert response["Content-Language"] == language
    html = response.content.decode()
    assert text in html and f'<html lang="{language}">' in html


@pytest.mark.django_db
def test_switcher_sets_the_language_of_a_visitor(client):
    response = client.post("/accounts/language/", {"language": "zh-hant",
                                                   "next": "/accounts/login/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "登入 Logcenter" in html  # the choice beats the browser's language
    client.post("/accounts/language/", {"language": "", "next": "/accounts/login/"})
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Sign in to Logcenter" in html  # back to the browser's


@pytest.mark.django_db
def test_switcher_saves_the_users_preference(staff_client, staff):
    audit_rows = AuditEvent.objects.count()
    response = staff_client.post("/accounts/language/", {"language": "zh-hans",
                                                         "next": "/logs/usage/"})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.language == "zh-hans"
    # A preference, not an administrator's change: no audit event.
    assert AuditEvent.objects.count() == audit_rows

    # Another browser (no cookie, a Traditional Accept-Language) gets the saved language.
    other = Client()
    other.force_login(staff)
    html = other.get("/logs/usage/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "<h1>用量</h1>" in html and "应用筛选" in html
    assert '<option value="zh-hans" lang="zh-hans" selected>' in html

    # An empty choice: follow the browser again.
    other.post("/accounts/language/", {"language": "", "next": "/logs/usage/"})
    staff.refresh_from_db()
    assert staff.language == ""
    html = other.get("/logs/usage/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "套用篩選" in html


@pytest.mark.django_db
def test_switcher_refuses_an_unknown_language(staff_client, staff):
    response = staff_client.post("/accounts/language/", {"language": "xx", "next": "/"})
    assert response.status_code == 400
    staff.refresh_from_db()
    assert staff.language == ""
    assert staff_client.get("/accounts/language/").status_code == 405


@pytest.mark.django_db
def test_usage_list_in_traditional_chinese(staff_client, factories):
    factories["usage"](platform_model="gpt-4o", total_tokens=1234567)
    html = staff_client.get("/logs/usage/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "<title>用量 · Logcenter</title>" in html
    for text in ("<h1>用量</h1>", "每一次模型呼叫及其帳單。", "套用篩選", "平台模型", "匯出",
                 "API 金鑰", "稽核", "系統事件", "登出", "費用（美元）", "1 筆符合的紀錄"):
        assert text in html, text
    # Numbers grouped by three in Chinese too (Django's own zh format would print 1234567).
    assert "1,234,567" in html
    # No Simplified term leaks into the Traditional page.
    for simplified in ("日志", "用户", "导出", "密钥", "应用筛选"):
        assert simplified not in html, simplified


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["audit", "usage", "auth", "system"])
def test_every_column_header_is_translated(staff_client, factories, slug):
    # A column declared on the table (a badge, a request ID, a message) is headed by its
    # model field's verbose name, translated, as the columns made from Meta.fields are.
    factories[slug]()
    html = staff_client.get(f"/logs/{slug}/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    headers = {name: re.sub(r"<[^>]+>|[▼▲]", "", text).strip() for name, text in
               re.findall(r'<th class="col-(\w+)">(.*?)</th>', html, re.S)}
    assert len(headers) >= 6
    english = {name: text for name, text in headers.items()
               if not re.search(r"[\u4e00-\u9fff]", text)}
    assert not english, f"{slug}: headers left in English: {english}"


@pytest.mark.django_db
def test_chart_legend_and_data_link_are_translated(staff_client, factories):
    factories["system"](level="warning")
    html = staff_client.get("/logs/system/panels/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "此圖表的資料" in html  # the chart's data link
    legend = html[html.index('<div class="legend">'):]
    assert "警告" in legend and "warning" not in legend  # a level is named, not stored


@pytest.mark.django_db
def test_usage_list_in_simplified_chinese(staff_client, factories):
    factories["usage"](platform_model="gpt-4o")
    html = staff_client.get("/logs/usage/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    for text in ("<h1>用量</h1>", "应用筛选", "平台模型", "导出", "API 密钥", "审计",
                 "退出登录", "1 条匹配记录"):
        assert text in html, text
    for traditional in ("日誌", "使用者", "匯出", "金鑰"):
        assert traditional not in html, traditional


@pytest.mark.django_db
def test_detail_page_labels_and_choices_translate_values_do_not(staff_client, factories):
    row = factories["usage"](platform_model="gpt-4o", status="error", billing_mode="per_call")
    html = staff_client.get(f"/logs/usage/{row.event_id}/",
                            HTTP_ACCEPT_LANGUAGE="zh-Hant").content.decode()
    assert "模型路由" in html and "平台模型" in html and "按次計費" in html
    assert "gpt-4o" in html  # stored values stay as stored


@pytest.mark.django_db
def test_api_errors_follow_accept_language_and_keys_stay_english(api_client):
    response = api_client.get("/api/v1/usage-records/", {"cost_min": "1e5"},
                              HTTP_ACCEPT_LANGUAGE="zh-TW")
    assert response.status_code == 400
    assert response["Content-Language"] == "zh-hant"
    assert list(response.json()) == ["cost_min"]
    assert "請輸入一般小數" in str(response.json()["cost_min"])

    response = api_client.get("/api/v1/usage/stats/", {"bogus": "1"},
                              HTTP_ACCEPT_LANGUAGE="zh-TW")
    assert response.status_code == 400 and response.json() == {"unknown_parameters": ["bogus"]}

    response = api_client.get("/api/v1/usage-records/", {"cost_min": "1e5"},
                              HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "请输入普通小数" in str(response.json()["cost_min"])
    response = api_client.get("/api/v1/usage-records/", {"cost_min": "1e5"})
    assert "Enter a plain decimal number" in str(response.json()["cost_min"])


@pytest.mark.django_db
def test_api_rows_keep_english_field_names_and_values(api_client, factories):
    factories["usage"](platform_model="gpt-4o", status="success")
    response = api_client.get("/api/v1/usage-records/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    row = response.json()["results"][0]
    assert row["platform_model"] == "gpt-4o" and row["status"] == "success"


@pytest.mark.django_db
def test_a_request_leaves_no_language_behind(client):
    client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-TW")
    assert translation.get_language() == settings.LANGUAGE_CODE


@pytest.mark.django_db
def test_ingest_reasons_follow_accept_language_and_field_names_stay_english(staff):
    from rest_framework.test import APIClient

    from accounts.models import ApiKey
    from logcenter.models import SystemEvent

    _, secret = ApiKey.generate(owner=staff, name="gateway", scopes=["ingest"],
                                kinds=["usage"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    bad = [{"kind": "usage", "event_id": "not-a-uuid", "occurred_at": "2026-11-20T10:00:00",
            "platform_model": 7, "username": "alice", "prompt_tokens": 1,
            "completion_tokens": 1, "cost": "0.1", "bogus": 1}]

    def reasons(language):
        response = api.post("/api/v1/ingest/", bad, format="json",
                            HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200 and response.json()["rejected"] == 1
        return {e["field"]: e["reason"] for e in response.json()["errors"]}

    assert reasons("zh-TW") == {"bogus": "不是該類日誌的欄位", "event_id": "必須是 UUID",
                                "occurred_at": "需要時區偏移（例如 Z 或 +08:00）",
                                "platform_model": "必須是字串"}
    hans = reasons("zh-CN")
    assert hans["platform_model"] == "必须是字符串" and hans["bogus"] == "不是该类日志的字段"
    assert reasons("en")["platform_model"] == "must be a string"
    # A placeholder survives: the length in the sentence.
    long = [dict(bad[0], event_id=None, occurred_at=None, platform_model="x" * 300, bogus=None)]
    long[0].pop("bogus"), long[0].pop("event_id"), long[0].pop("occurred_at")
    response = api.post("/api/v1/ingest/", long, format="json", HTTP_ACCEPT_LANGUAGE="zh-TW")
    assert response.json()["errors"][0]["field"] == "platform_model"
    assert response.json()["errors"][0]["reason"].startswith("超過 ") and "個字元" in \
        response.json()["errors"][0]["reason"]
    # A body the API cannot read: the message too.
    response = api.generic("POST", "/api/v1/ingest/", "{}", content_type="application/json",
                           HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 400
    assert response.json()["detail"] == "请求体必须是由事件组成的 JSON 数组（或 NDJSON）。"
    # What is stored stays English (a warning's details, when it is written).
    for event in SystemEvent.objects.filter(event="ingestion.rejected"):
        assert all(e["reason"].isascii() for e in event.details["first_errors"])


@pytest.mark.django_db
def test_a_rejected_batch_is_stored_in_english(staff, settings):
    from rest_framework.test import APIClient

    from accounts.models import ApiKey
    from logcenter.models import SystemEvent

    settings.LOGCENTER = {**settings.LOGCENTER, "INGEST_REJECT_ALERT": 1}
    _, secret = ApiKey.generate(owner=staff, name="gateway", scopes=["ingest"],
                                kinds=["usage"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api.post("/api/v1/ingest/", [{"kind": "usage", "platform_model": 7}],
                        format="json", HTTP_ACCEPT_LANGUAGE="zh-TW")
    assert response.json()["errors"][0]["reason"] == "必須是字串"
    event = SystemEvent.objects.get(event="ingestion.rejected")
    assert event.details["first_errors"][0]["reason"] == "must be a string"


@pytest.mark.django_db
def test_export_api_errors_follow_accept_language_and_keys_stay_english(api_client):
    body = {"kind": "usage", "format": "csv", "columns": ["bogus_column"]}
    response = api_client.post("/api/v1/exports/", body, format="json",
                               HTTP_ACCEPT_LANGUAGE="zh-TW")
    assert response.status_code == 400 and list(response.json()) == ["columns"]
    assert response.json()["columns"][0].startswith("未知的欄位 bogus_column；可用的欄位：")
    response = api_client.post("/api/v1/exports/", body, format="json",
                               HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.json()["columns"][0].startswith("未知的列 bogus_column；可用的列：")
    response = api_client.post("/api/v1/exports/", {"kind": "usage", "format": "csv",
                                                    "include_digests": True}, format="json",
                               HTTP_ACCEPT_LANGUAGE="zh-TW")
    assert response.json() == {"include_digests": ["需要 json 或 ndjson 格式。"]}
    response = api_client.post("/api/v1/exports/", body, format="json")
    assert response.json()["columns"][0].startswith("Unknown column bogus_column;")


@pytest.mark.django_db
def test_the_top_bar_shows_the_role_translated(staff_client):
    html = staff_client.get("/logs/usage/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert 'class="user-role" title="你的角色">管理員</span>' in html
    html = staff_client.get("/logs/usage/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'title="你的角色">管理员</span>' in html
    html = staff_client.get("/logs/usage/").content.decode()
    assert 'title="Your role">Administrator</span>' in html


def test_role_labels_fall_back_to_the_group_name():
    from accounts.roles import ROLE_NAMES, role_label

    assert set(ROLE_NAMES) <= {str(role_label(name)) for name in ROLE_NAMES} | set(ROLE_NAMES)
    with translation.override("zh-hant"):
        assert [str(role_label(name)) for name in ROLE_NAMES] == [
            "管理員", "稽核員", "技術支援", "財務", "成員"]
        assert role_label("Night shift") == "Night shift"
