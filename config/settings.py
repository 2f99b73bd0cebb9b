"""cstrack settings. Everything comes from the environment (django-environ).

Development gets safe defaults so that one command runs the whole service on SQLite and
Celery's filesystem broker. Production (DJANGO_ENV=production) has no defaults for secrets
and refuses to start without them.
"""

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# .env first: every value below, CSTRACK_VAR_DIR included, may come from it (the process
# environment still wins).
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
VAR_DIR = Path(env.str("CSTRACK_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
IS_PRODUCTION = DJANGO_ENV == "production"
REDIS_URL = env.str("REDIS_URL", default="")
DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)

# Development-only secrets. They are public (they are in this file), so production refuses them.
_DEV_SECRET_KEY = "dev-insecure-cstrack-secret-key-do-not-use-in-production"  # noqa: S105
_DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS0zMi1ieXRlcy1sb25nISE="  # base64 of 32 bytes
_DEV_PII_HASH_KEY = "dev-only-pii-blind-index-key"


def _secret(name, dev_default, cast=str):
    if IS_PRODUCTION:
        value = env(name, default=None)
        if not value:
            raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")
        return cast(value)
    return cast(env(name, default=dev_default))


SECRET_KEY = _secret("SECRET_KEY", _DEV_SECRET_KEY)
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation: prepend a new key,
# run `manage.py rotate_pii_keys`, then drop the old one).
PII_ENCRYPTION_KEYS = _secret(
    "PII_ENCRYPTION_KEYS", _DEV_PII_KEY, cast=lambda v: [k.strip() for k in v.split(",") if k.strip()]
)
PII_HASH_KEY = _secret("PII_HASH_KEY", _DEV_PII_HASH_KEY)
if IS_PRODUCTION and (
    SECRET_KEY == _DEV_SECRET_KEY or _DEV_PII_KEY in PII_ENCRYPTION_KEYS or PII_HASH_KEY == _DEV_PII_HASH_KEY
):
    raise ImproperlyConfigured("production refuses the development secrets")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "tickets.api.fallbacks.csrf_failure"  # problem+json on /api/ paths

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "csp",
    "cstrack",
    "notifications",
    "tickets",
]

MIDDLEWARE = [
    "cstrack.observability.HealthzMiddleware",  # first: before host checks and the HTTPS redirect
    "cstrack.observability.RequestIdMiddleware",
    "cstrack.observability.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tickets.webhooks.SubscriptionsPerRequestMiddleware",  # webhook subscriptions read once a request
    "csp.middleware.CSPMiddleware",
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
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database: DATABASE_URL, or the embedded SQLite default -------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cstrack.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, IMMEDIATE
    # transactions take the write lock up front instead of failing half-way, and the timeout
    # makes a busy writer wait rather than error.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests use a file, not shared-cache memory: there a second writer fails at once
    # ("table is locked") instead of waiting, which breaks the concurrency tests.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ko"
# Korean only: the UI ships no other translation, so offering one would show half-translated pages.
LANGUAGES = [("ko", "한국어")]
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)

AUTHENTICATION_BACKENDS = ["cstrack.auth.ThrottledModelBackend"]
LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=5)
LOGIN_MAX_FAILURES_PER_ADDRESS = env.int("LOGIN_MAX_FAILURES_PER_ADDRESS", default=50)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
# Shared cache (login throttling, API throttles): Redis when configured, else this process only.
CACHES = {
    "default": (
        {
            "BACKEND": "cstrack.cache.FailOpenRedisCache",
            "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if (env.str("CACHE_URL", default="") or REDIS_URL)
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- Business calendar (cstrack/calendar.py) -----------------------------------------------
CSTRACK_BUSINESS_HOURS = (
    env.str("BUSINESS_HOURS_START", default="09:00"),
    env.str("BUSINESS_HOURS_END", default="18:00"),
)
CSTRACK_QUIET_HOURS = (env.str("QUIET_HOURS_START", default="21:00"), env.str("QUIET_HOURS_END", default="08:00"))

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Nothing we queue waits long (follow-ups are rows, not ETAs), so an hour is ample before
    # Redis hands an unacknowledged task to another worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        # An agent's request must not hang on a dead Redis: give up fast, the sweep catches up.
        "socket_connect_timeout": env.float("BROKER_PUBLISH_TIMEOUT", default=2.0),
        "max_retries": 0,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Asia/Seoul"
# Keep Django's LOGGING (JSON in production, the personal-data scrub filter) in worker and beat.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How long publishing a task may block an agent's request when the broker is down.
CSTRACK_BROKER_PUBLISH_TIMEOUT = env.float("BROKER_PUBLISH_TIMEOUT", default=2.0)
FOLLOWUP_DISPATCH_INTERVAL = env.float("FOLLOWUP_DISPATCH_INTERVAL", default=60.0)
FOLLOWUP_BATCH_SIZE = env.int("FOLLOWUP_BATCH_SIZE", default=200)
# The overdue queue's summary of the whole queue is shared by every reader for up to this long
# (refreshed by beat every minute); 0: count it on every request.
QUEUE_SUMMARY_MAX_AGE_SECONDS = env.int("QUEUE_SUMMARY_MAX_AGE_SECONDS", default=60)
OUTBOX_SWEEP_INTERVAL = env.float("OUTBOX_SWEEP_INTERVAL", default=60.0)
CELERY_BROKER_CONNECTION_TIMEOUT = CSTRACK_BROKER_PUBLISH_TIMEOUT
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-followups": {"task": "tickets.dispatch_due_followups", "schedule": FOLLOWUP_DISPATCH_INTERVAL},
    "schedule-morning-digests": {"task": "tickets.schedule_morning_digests", "schedule": 900.0},
    "sweep-outbox": {"task": "notifications.sweep_outbox", "schedule": OUTBOX_SWEEP_INTERVAL},
    "purge-expired-idempotency-keys": {"task": "cstrack.purge_expired_idempotency_keys", "schedule": 3600.0},
    "refresh-overdue-rollup": {"task": "tickets.refresh_overdue_rollup", "schedule": 60.0},
    "purge-expired-personal-data": {
        "task": "tickets.purge_expired_personal_data",
        "schedule": crontab(hour=3, minute=30),
    },
}
CSTRACK_BASE_URL = env.str("CSTRACK_BASE_URL", default="http://127.0.0.1:8000")

# --- Notifications ------------------------------------------------------------------------
SMS_PROVIDER = env.str("SMS_PROVIDER", default="console")  # console | file | memory | http | solapi
SMS_SENDER_NUMBER = env.str("SMS_SENDER_NUMBER", default="" if IS_PRODUCTION else "15990000")
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms-outbox.jsonl"))
HTTP_GATEWAY_URL = env.str("HTTP_GATEWAY_URL", default="")
HTTP_GATEWAY_SECRET = env.str("HTTP_GATEWAY_SECRET", default="")
SOLAPI_BASE_URL = env.str("SOLAPI_BASE_URL", default="https://api.solapi.com")
SOLAPI_API_KEY = env.str("SOLAPI_API_KEY", default="")
SOLAPI_API_SECRET = env.str("SOLAPI_API_SECRET", default="")
# Delivery reports: the shared secret that signs Solapi report webhooks (comma-separated during
# a rotation); empty disables /hooks/solapi/reports/.
SOLAPI_WEBHOOK_SECRET = env.str("SOLAPI_WEBHOOK_SECRET", default="")
REPORT_MAX_AGE_SECONDS = env.int("REPORT_MAX_AGE_SECONDS", default=300)
PROVIDER_TIMEOUT = env.float("PROVIDER_TIMEOUT", default=5.0)
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=100)  # messages claimed and sent together
MESSAGE_MAX_ATTEMPTS = env.int("MESSAGE_MAX_ATTEMPTS", default=6)
MESSAGE_LEASE_SECONDS = env.int("MESSAGE_LEASE_SECONDS", default=120)
MESSAGE_RETRY_BASE_SECONDS = env.float("MESSAGE_RETRY_BASE_SECONDS", default=30)
MESSAGE_RETRY_MAX_SECONDS = env.float("MESSAGE_RETRY_MAX_SECONDS", default=3600)
OUTBOX_SWEEP_BATCH_SIZE = env.int("OUTBOX_SWEEP_BATCH_SIZE", default=500)
# A task queued this long ago for a row still pending is taken as lost by the broker.
# A resolved ticket nobody reopens is closed after this many days (0: never); its retention
# period runs from closing.
RESOLVED_AUTO_CLOSE_DAYS = env.int("RESOLVED_AUTO_CLOSE_DAYS", default=7)
OUTBOX_REQUEUE_AFTER_SECONDS = env.float("OUTBOX_REQUEUE_AFTER_SECONDS", default=300)
# Outbound requests (webhooks, HTTP gateway; cstrack/outbound.py): https only in production;
# internal addresses are refused unless listed here (host names, addresses or networks, e.g.
# "sms-gw.internal,10.20.0.0/16") -- the operator's explicit list of internal targets.
OUTBOUND_REQUIRE_HTTPS = env.bool("OUTBOUND_REQUIRE_HTTPS", default=IS_PRODUCTION)
OUTBOUND_ALLOWLIST = env.list("OUTBOUND_ALLOWLIST", default=[])
# Webhook deliveries are signed with their subscription's secret (and the previous one during
# a rotation's grace period); WEBHOOK_SIGNING_SECRET signs anything without a subscription.
WEBHOOK_SECRET_RESOLVER = "tickets.webhooks.webhook_signing_secrets"  # noqa: S105 - a dotted path
WEBHOOK_SIGNING_SECRET = env.str("WEBHOOK_SIGNING_SECRET", default="" if IS_PRODUCTION else "dev-webhook-secret")
# A hung SMTP send must end before the message's lease does, or another worker could resend it.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "cstrack.mail.MaskedConsoleEmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cstrack@localhost")

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # tickets/api's base view sets authentication, permissions, throttles and pagination itself;
    # these cover anything outside it.
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tickets.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"api_user": env.str("API_USER_THROTTLE", default="1200/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cstrack API",
    "DESCRIPTION": "Contact-centre escalations and the follow-ups promised on them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response components apart: request ones carry the input rules (tickets/api/schema.py).
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tickets.api.schema.request_shapes_hook",
        "tickets.api.schema.request_rules_hook",
        "tickets.api.schema.links_hook",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "tickets.models.Channel",
        "ConsentBasisEnum": "tickets.models.ConsentBasis",
        "StatusEnum": "tickets.models.Status",
    },
}

# --- Logging: never personal data (cstrack/logging.py) ---------------------------------------
# The formatters scrub the whole rendered line; every logger that writes anywhere -- Django's
# own (django.server from runserver, django.request) included -- goes to this one handler.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "text")  # json | text
LOG_FORMATTERS = {
    "json": {
        "()": "cstrack.logging.ScrubbingJsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(ticket)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    },
    "text": {
        "()": "cstrack.logging.ScrubbingFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
    },
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "scrub_pii": {"()": "cstrack.logging.PiiScrubFilter"},
        "context": {"()": "cstrack.observability.ContextFilter"},
    },
    "formatters": LOG_FORMATTERS,
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["context", "scrub_pii"], "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's defaults give these their own unscrubbed handlers (and mail to ADMINS); ours
    # replace them. httpx logs every request line at INFO: a provider look-up's query holds the
    # recipient and a chat webhook's path is its secret; its warnings and errors still show.
    "loggers": {
        **{
            name: {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
            for name in ("django", "django.server", "django.request", "celery", "celery.task", "celery.redirected")
        },
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
# If set, /metrics requires "Authorization: Bearer <token>".
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Production hardening -------------------------------------------------------------------
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): pages run only the project's own scripts and styles,
# from static files -- no inline script or style, nothing from elsewhere. /api/docs/ (Swagger UI,
# loaded from a CDN) is exempt in tickets/api/urls.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
