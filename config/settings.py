"""Logcenter settings: one module, driven by the environment.

Without DATABASE_URL the console runs on SQLite; without REDIS_URL Celery tasks run
in-process. Both exist so the demo (DEBUG on) needs nothing running. With DEBUG off the
settings refuse to load on the default SECRET_KEY or without REDIS_URL, so gunicorn, the
Celery worker and every manage.py command stop at start (see the end of this module).
"""

import os
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # OpClass in index definitions (the trigram search indexes); harmless on SQLite.
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "accounts",
    "logcenter",
]

MIDDLEWARE = [
    "logcenter.core.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "logcenter.api.compression.JsonGZipMiddleware",  # before anything that reads the body
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's LocaleMiddleware with the user's saved language first (it needs request.user)
    # and Chinese browser tags mapped to a script; no i18n URL prefixes, so after auth.
    "accounts.middleware.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "logcenter.web.context_processors.log_tabs",
                "accounts.context_processors.languages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# runserver serves each client connection in a thread of its own, and a thread's database
# connection lives as long as the browser keeps that socket open: persistent connections
# there only pile up idle sessions (40+ after a few hundred requests). So runserver, and
# DEBUG, close the connection after each request; gunicorn's workers keep theirs a minute.
DEV_SERVER = sys.argv[1:2] == ["runserver"]
CONN_MAX_AGE = (0 if DEV_SERVER
                else int(os.environ.get("DB_CONN_MAX_AGE") or (0 if DEBUG else 60)))
DATABASES = {
    # An empty DATABASE_URL (as `DATABASE_URL= make run` sets it) means the default too.
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=CONN_MAX_AGE,
    )
}
# The owner role that migrates (the same database as DATABASE_URL): DATABASE_URL's role then
# owns nothing and may only read and append log rows (logcenter.engines.postgres.db_roles). Unset: one role.
MIGRATION_DATABASE = (dj_database_url.parse(os.environ["MIGRATION_DATABASE_URL"])
                      if os.environ.get("MIGRATION_DATABASE_URL") else None)
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if IS_POSTGRES:
    # No JIT compiling for the app's sessions: its queries are short, and compiling a big
    # one's expressions took 50-60 ms on the 10M-row table, more than it ever saved
    # (docs/performance.md, 2026-12-05).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
# The usage indexes' INCLUDE columns serve PostgreSQL's index-only reads; SQLite (the demo)
# builds the same indexes without them, which is all it needs.
SILENCED_SYSTEM_CHECKS = [] if IS_POSTGRES else ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/logs/"
LOGOUT_REDIRECT_URL = "login"

# English is the source language; the catalogs live in locale/ (docs/translations.md).
# Each language is named in its own script, as the switcher shows it.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文"), ("zh-hant", "繁體中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our overrides of Django's number formats per language (config/formats/<locale>/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve from the finders in dev and tests so no collectstatic step is needed there.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing root on every start
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["logcenter.api.permissions.IsConsoleUser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "logcenter.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
    "DEFAULT_THROTTLE_RATES": {"usage_by_key": os.environ.get("USAGE_BY_KEY_RATE", "60/min")},
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
    # A bad log query or stats parameter is an HTTP 400 on every API view.
    "EXCEPTION_HANDLER": "logcenter.api.exceptions.exception_handler",
}

# The public usage-by-key lookup is called from the gateway's pages on other origins.
CORS_URLS_REGEX = r"^/api/v1/usage-records/by-key/$"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_HEADERS = ["authorization", "content-type"]

SPECTACULAR_SETTINGS = {
    "TITLE": "Logcenter API",
    "DESCRIPTION": "Audit, usage, authentication and system logs of the AI API gateway.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`: name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "UsageStatusEnum": "logcenter.models.UsageRecord.Status",
        "ExportJobStatusEnum": "logcenter.models.ExportJob.Status",
    },
}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache",
         "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": "logcenter",
         # A Redis that does not answer costs a request a second, not a hang.
         "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery: a real broker when REDIS_URL is set, in-process otherwise (the demo, DEBUG only:
# production refuses to start without REDIS_URL, below).
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Job state lives in the database (ExportJob …); no result backend to wait on.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = DEBUG and not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# When Redis is down, fail fast (the caller marks the job failed and says so) instead
# of holding the web request for long.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0,
                                    "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0,
                                   "interval_step": 0.2, "interval_max": 0.5}
CELERY_BEAT_SCHEDULE = {
    # Ingested usage reaches the hourly rollups within seconds (stats read the inbox too).
    "usage-rollups-fold": {"task": "logcenter.usage_rollups_fold", "schedule": 5.0},
    "exports-housekeeping": {"task": "logcenter.exports_housekeeping", "schedule": 300.0},
    "retention-purge": {"task": "logcenter.retention_purge",
                        "schedule": crontab(hour=3, minute=15)},
    "usage-partitions": {"task": "logcenter.usage_partitions_ensure",
                         "schedule": crontab(hour=2, minute=45)},
    # Planner statistics of the busiest tables, fresher than autovacuum keeps them.
    "planner-stats": {"task": "logcenter.planner_stats_refresh", "schedule": 600.0},
    # Tamper evidence: new rows sealed into signed blocks every minute; all verified daily.
    "integrity-seal": {"task": "logcenter.integrity_seal", "schedule": 60.0},
    "integrity-verify": {"task": "logcenter.integrity_verify",
                         "schedule": crontab(hour=4, minute=30)},
    # The filters' suggestions: values stored since the last run (no page reads a log table).
    "known-values": {"task": "logcenter.known_values_refresh", "schedule": 600.0},
    # Log streams: a pump for each destination that is due (logcenter.streams.delivery).
    "streams-dispatch": {"task": "logcenter.streams_dispatch",
                         "schedule": float(os.environ.get("STREAMS_PUMP_SECONDS", "2"))},
}

# Log console behaviour.
LOGCENTER = {
    "PAGE_SIZE": 50,
    "MAX_PAGE_SIZE": 200,
    # Totals above this are shown as "N+" (with the planner's estimate) rather than counted.
    "COUNT_CAP": 1_000,
    # X-Forwarded-For is believed only from these peers (addresses or CIDR networks).
    "TRUSTED_PROXIES": env_list("TRUSTED_PROXIES", "127.0.0.1,::1"),
    # POST /api/v1/ingest/ limits, and how many rejections in one batch raise a warning.
    "INGEST_MAX_EVENTS": int(os.environ.get("INGEST_MAX_EVENTS", "5000")),
    "INGEST_MAX_BYTES": int(os.environ.get("INGEST_MAX_BYTES", str(10 * 1024 * 1024))),
    "INGEST_REJECT_ALERT": int(os.environ.get("INGEST_REJECT_ALERT", "10")),
    # Export files are deleted this many days after they were written.
    "EXPORT_TTL_DAYS": int(os.environ.get("EXPORT_TTL_DAYS", "7")),
    # A running export whose worker has not reported progress for this long has failed.
    "EXPORT_STALE_SECONDS": int(os.environ.get("EXPORT_STALE_SECONDS", "300")),
    # Retention purges delete in batches of this many rows, for at most this long a run.
    "PURGE_BATCH_SIZE": int(os.environ.get("PURGE_BATCH_SIZE", "5000")),
    "PURGE_BUDGET_SECONDS": int(os.environ.get("PURGE_BUDGET_SECONDS", "1800")),
    # Whatever a retention policy says, PostgreSQL's purge function keeps every row at least
    # this many days (written into the database by each migrate, as the owner): the app
    # role cannot shorten a policy to nothing and erase what just happened.
    "MIN_RETENTION_DAYS": int(os.environ.get("MIN_RETENTION_DAYS", "1")),
}

# Tamper evidence (logcenter.integrity, docs/integrity.md). The Ed25519 signing key: PEM or
# the 64-hex-digit seed in LOGCENTER_SIGNING_KEY, or a PEM file; with neither, one is
# generated on first use into var/ (demo and tests only: production mounts its own file).
# Retired keys' public halves (64 hex digits, comma-separated) still verify old blocks.
LOGCENTER_INTEGRITY = {
    "SIGNING_KEY": os.environ.get("LOGCENTER_SIGNING_KEY", ""),
    "SIGNING_KEY_FILE": os.environ.get("LOGCENTER_SIGNING_KEY_FILE", ""),
    "TRUSTED_PUBLIC_KEYS": env_list("LOGCENTER_TRUSTED_PUBLIC_KEYS"),
    # Rows per block at most; a run seals what is new, so quiet kinds get smaller blocks.
    "BLOCK_ROWS": int(os.environ.get("INTEGRITY_BLOCK_ROWS", "10000")),
    # The safe horizon (logcenter.integrity.sealing): a pause for transactions that drew
    # an id to take a transaction id, then how long to wait for writers still open.
    "SETTLE_SECONDS": float(os.environ.get("INTEGRITY_SETTLE_SECONDS", "1")),
    "WAIT_SECONDS": float(os.environ.get("INTEGRITY_WAIT_SECONDS", "20")),
    # GET /api/v1/integrity/verify/ checks at most this many sealed rows per request.
    "VERIFY_API_MAX_ROWS": int(os.environ.get("INTEGRITY_VERIFY_API_MAX_ROWS", "2000000")),
}

# Log streams (logcenter.streams, docs/operations.md#log-streams). Credentials are encrypted
# with LOGCENTER_SECRETS_KEYS (Fernet keys, comma-separated, the first encrypts); unset, a
# key derived from SECRET_KEY (then changing SECRET_KEY loses them: production sets its own).
LOGCENTER_STREAMS = {
    "SECRETS_KEYS": env_list("LOGCENTER_SECRETS_KEYS"),
    "PUMP_SECONDS": float(os.environ.get("STREAMS_PUMP_SECONDS", "2")),
    # One pump sends batches for this long at most, then hands the destination on.
    "PUMP_BUDGET_SECONDS": float(os.environ.get("STREAMS_PUMP_BUDGET_SECONDS", "30")),
    "HTTP_TIMEOUT_SECONDS": float(os.environ.get("STREAMS_HTTP_TIMEOUT_SECONDS", "30")),
    "BACKOFF_BASE_SECONDS": float(os.environ.get("STREAMS_BACKOFF_BASE_SECONDS", "2")),
    "BACKOFF_MAX_SECONDS": float(os.environ.get("STREAMS_BACKOFF_MAX_SECONDS", "300")),
    # How long a pump waits for writers still open below the horizon before trying later.
    "WAIT_SECONDS": float(os.environ.get("STREAMS_WAIT_SECONDS", "5")),
    # The health view counts undelivered events up to this many.
    "HEALTH_COUNT_CAP": int(os.environ.get("STREAMS_HEALTH_COUNT_CAP", "1000000")),
}

# Sign-in throttling: failures per username within the window lock the account (the
# username, known or not) for LOCK_SECONDS; failures per IP stop spraying across names.
SIGNIN = {
    "MAX_FAILURES": int(os.environ.get("SIGNIN_MAX_FAILURES", "5")),
    "WINDOW_SECONDS": int(os.environ.get("SIGNIN_WINDOW_SECONDS", "900")),
    "LOCK_SECONDS": int(os.environ.get("SIGNIN_LOCK_SECONDS", "900")),
    "IP_MAX_FAILURES": int(os.environ.get("SIGNIN_IP_MAX_FAILURES", "20")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own loggers print through the root handler only (not twice).
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}


# Production refuses the demo's shortcuts when the settings load, so gunicorn, the Celery
# worker and beat, and every manage.py command (check --deploy included) stop at start.
def insecure_production(debug, secret_key, redis_url):
    """What keeps these settings from serving with DEBUG off (empty when nothing does)."""
    if debug:
        return []
    problems = []
    if (secret_key in ("", DEV_SECRET_KEY) or secret_key.startswith("django-insecure-")
            or "change-me" in secret_key):
        problems.append("SECRET_KEY is the development default or a placeholder: set "
                        "SECRET_KEY to a long random value (or DEBUG=1 for development).")
    if not redis_url:
        problems.append("REDIS_URL is not set: with DEBUG off, Celery tasks (exports, "
                        "purges, deliveries) never run inside web requests. Set REDIS_URL "
                        "and run a worker (or DEBUG=1 for development).")
    return problems


if _problems := insecure_production(DEBUG, SECRET_KEY, REDIS_URL):
    raise ImproperlyConfigured(" ".join(_problems))
