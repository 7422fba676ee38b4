"""Lenny's one settings file. Everything that differs between machines comes from the environment.

With no DATABASE_URL and no REDIS_URL Lenny runs embedded: SQLite in DATA_DIR, a local-memory
cache and django-q2's ORM broker. With them set it runs on PostgreSQL and Redis.
"""

from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env("LENNY_DATA_DIR", default=str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# LENNY_PRODUCTION turns on every secure default at once (TLS-only cookies, HSTS, redirects) and
# makes SECRET_KEY mandatory; each can still be overridden on its own.
PRODUCTION = env.bool("LENNY_PRODUCTION", default=False)
DEBUG = env.bool("DEBUG", default=False)
if PRODUCTION:
    SECRET_KEY = env("SECRET_KEY")
else:
    # Only so that a newcomer's first `make run` works without set-up.
    SECRET_KEY = env("SECRET_KEY", default="django-insecure-lenny-embedded-default-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_ROOT = env("SITE_ROOT", default="http://localhost:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sites",
    "django_htmx",
    "template_partials",
    "django_q",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "csp",
    "lenny",
    "accounts",
    "market",
    "market.ledger",
    "stores",
]

MIDDLEWARE = [
    # Outermost: while a request is served, a cache outage reads as misses (lenny/cache.py).
    "lenny.middleware.ServiceOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lenny.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "lenny.middleware.HtmxLoginRedirectMiddleware",
    "lenny.middleware.MethodNotAllowedPageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "lenny.urls"
WSGI_APPLICATION = "lenny.wsgi.application"
SITE_ID = 1

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
    }
]

# --- Database -------------------------------------------------------------------------------
if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "lenny.sqlite3",
            # WAL: readers never wait for a writer, nor a writer for readers. IMMEDIATE: a write
            # transaction takes the write lock when it begins, so it waits its turn (up to
            # `timeout` seconds) instead of failing with "database is locked" halfway through.
            # The ingest writes big books in short transactions (market.ingest), so no writer
            # waits long. synchronous=NORMAL is safe with WAL (a crash may lose the last commits,
            # never consistency) and spares an fsync per commit.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
            # A file, not SQLite's in-memory default: live-server tests read it from other threads.
            "TEST": {"NAME": str(DATA_DIR / "test-lenny.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

# --- Cache and task broker ------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Pages answer without Redis (errors read as misses); workers still see the error.
            "BACKEND": "lenny.cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "lenny",
            # A Redis that hangs must not hang every page: give up quickly and serve without it.
            "OPTIONS": {
                "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=1.0),
                "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=3.0),
            },
        }
    }
else:
    # A file cache rather than local memory: the web server and the workers are separate
    # processes and must share job locks, ESI cache headers and the cluster's heartbeat.
    CACHES = {
        "default": {
            # Django's file cache, bounded without forgetting live entries (lenny/cache.py).
            "BACKEND": "lenny.cache.EmbeddedFileCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

Q_CLUSTER = {
    "name": "lenny",
    # Most tasks wait on upstreams (ESI, store sites) rather than the CPU, and a store check holds
    # its worker while it waits for the store's politeness slot: more workers than cores.
    "workers": env.int("Q_WORKERS", default=6),
    # A task is killed after `timeout` seconds and re-queued after `retry`: retry must be longer
    # so a slow task is never run twice at once.
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),
    "max_attempts": 2,
    "catch_up": False,
    "save_limit": 500,
    "ack_failures": True,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth ------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Fernet keys for tokens at rest, newest first; older keys still decrypt (MultiFernet rotation).
# The embedded default derives one from SECRET_KEY so a newcomer needs no set-up.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- Upstreams -------------------------------------------------------------------------------
ESI_BASE_URL = env("ESI_BASE_URL", default="https://esi.evetech.net")
ESI_COMPATIBILITY_DATE = env("ESI_COMPATIBILITY_DATE", default="2025-08-26")
EVE_SSO_BASE_URL = env("EVE_SSO_BASE_URL", default="https://login.eveonline.com")
EVE_IMAGE_BASE_URL = env("EVE_IMAGE_BASE_URL", default="https://images.evetech.net")
# EVE_CLIENT_ID / EVE_CLIENT_SECRET are the names the original spec uses: accepted as aliases.
EVE_SSO_CLIENT_ID = env("EVE_SSO_CLIENT_ID", default="") or env("EVE_CLIENT_ID", default="")
EVE_SSO_SECRET = env("EVE_SSO_SECRET", default="") or env("EVE_CLIENT_SECRET", default="")
SCRYFALL_BASE_URL = env("SCRYFALL_BASE_URL", default="https://api.scryfall.com")
LENNY_USER_AGENT = env(
    "LENNY_USER_AGENT", default="Lenny/0.1 (self-hosted; contact: admin@localhost)"
)
UPSTREAM_TIMEOUT = env.float("UPSTREAM_TIMEOUT", default=20.0)
# Where the workers download the SDE from (CSV tables, plain or .bz2): Fuzzwork's latest dump.
LENNY_SDE_URL = env("LENNY_SDE_URL", default="https://www.fuzzwork.co.uk/dump/latest")

# --- ESI client -------------------------------------------------------------------------------
# Pages of one paged result fetched at once (ESI's market orders: ~400 pages for The Forge).
ESI_MAX_IN_FLIGHT = env.int("ESI_MAX_IN_FLIGHT", default=20)
# 5xx answers and timeouts are retried this many times, after base * 2^n seconds (jittered).
ESI_MAX_RETRIES = env.int("ESI_MAX_RETRIES", default=3)
ESI_BACKOFF_BASE = env.float("ESI_BACKOFF_BASE", default=0.5)
ESI_BACKOFF_MAX = env.float("ESI_BACKOFF_MAX", default=10.0)
# Stop sending while ESI's error limit is at or below this many errors, until it resets.
ESI_ERROR_LIMIT_MARGIN = env.int("ESI_ERROR_LIMIT_MARGIN", default=10)
# Stop sending while a rate-limit bucket has this many tokens or fewer left.
ESI_RATE_LIMIT_MARGIN = env.int("ESI_RATE_LIMIT_MARGIN", default=10)
# The longest a request waits for a limit to clear before it fails instead.
ESI_MAX_WAIT = env.float("ESI_MAX_WAIT", default=120.0)
# Market history: at most this many requests in this time ("300/1m"), across all workers.
ESI_HISTORY_RATE = env("ESI_HISTORY_RATE", default="300/1m")
# Pages that disagree on Last-Modified (the snapshot rolled over mid-fetch): wait, fetch again.
ESI_ROLLOVER_RETRIES = env.int("ESI_ROLLOVER_RETRIES", default=3)
ESI_ROLLOVER_WAIT = env.float("ESI_ROLLOVER_WAIT", default=5.0)
# The replay ESI's history: "auto" (the shared archive when present, else the repo's sample),
# "sample", "full" or a path.
ESI_REPLAY_HISTORY = env("ESI_REPLAY_HISTORY", default="auto")

# Market history is kept this many days (0: for ever). ESI serves about 13 months of it, so a
# day once stored is only ever lost this way; size the database by it when tracking many regions
# (README, "Scaling out"). At least 60, so the 30-day figures always have their days.
MARKET_HISTORY_KEEP_DAYS = env.int("MARKET_HISTORY_KEEP_DAYS", default=0)
if 0 < MARKET_HISTORY_KEEP_DAYS < 60:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"MARKET_HISTORY_KEEP_DAYS={MARKET_HISTORY_KEEP_DAYS}: keep at least 60 days (the desk's "
        "30-day volumes and averages read them), or 0 to keep history for ever"
    )

# Each web process prepares the desk's views for every new snapshot in a thread of its own
# (market.prewarm), so no trader's request pays for decoding and pricing a hub's book.
DESK_PREWARM = env.bool("DESK_PREWARM", default=True)

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names from the manifest once `collectstatic` has run; before that (a plain
        # `manage.py runserver` with DEBUG off) plain names, served from the finders.
        "BACKEND": "lenny.storage.CollectedOrFoundStaticFilesStorage"
        if not DEBUG and env.bool("LENNY_MANIFEST_STATIC", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="lenny@localhost")

# --- Security ---------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# /healthz is probed over plain HTTP from inside the compose network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# /healthz tells anyone only its status and part names; staff sessions, and monitors sending
# "Authorization: Bearer <HEALTHZ_TOKEN>", get the details (errors, job failures, counts).
HEALTHZ_TOKEN = env("HEALTHZ_TOKEN", default="")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
if env.bool("BEHIND_TLS_PROXY", default=PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp 4): scripts only from Lenny itself or inline with the
# request's nonce (`{{ request.csp_nonce }}`); no inline handlers, no eval (htmx runs with
# allowEval off, so hx-on and trigger filters are not used; static/js/lenny.js does their work).
# Styles allow inline: Pico, htmx's indicator and the admin set style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        # lenny.middleware adds EVE's image server (EVE_IMAGE_BASE_URL) for the portraits.
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Accounts and EVE SSO ---------------------------------------------------------------------
if PRODUCTION and not FIELD_ENCRYPTION_KEYS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "Set FIELD_ENCRYPTION_KEYS when LENNY_PRODUCTION=1: tokens at rest must not depend on "
        "SECRET_KEY (generate one with `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`)"
    )
SOCIALACCOUNT_ADAPTER = "accounts.adapter.SocialAccountAdapter"
# The scopes come from the provider (accounts/scopes.py), the one list of what Lenny asks for.
SOCIALACCOUNT_PROVIDERS: dict[str, dict] = {"eveonline_v2": {}}
if EVE_SSO_CLIENT_ID:
    # The EVE application lives in the settings, so production needs no SocialApp row.
    SOCIALACCOUNT_PROVIDERS["eveonline_v2"]["APPS"] = [
        {"name": "EVE Online", "client_id": EVE_SSO_CLIENT_ID, "secret": EVE_SSO_SECRET}
    ]
SOCIALACCOUNT_REQUESTS_TIMEOUT = UPSTREAM_TIMEOUT
TEMPLATES[0]["OPTIONS"]["context_processors"].append("accounts.context_processors.eve_characters")
# Tokens never show in clear on error pages, in error mails or in the logs.
DEFAULT_EXCEPTION_REPORTER_FILTER = "accounts.reporting.TokenRedactingReporterFilter"
LOGGING["filters"] = {"redact_tokens": {"()": "accounts.redaction.RedactTokensLogFilter"}}
LOGGING["handlers"]["console"]["filters"] = ["redact_tokens"]

# --- Card catalog (Scryfall) ------------------------------------------------------------------
# Scryfall asks for at most 10 requests per second and a 30-second pause after a 429.
SCRYFALL_REQUEST_INTERVAL = env.float("SCRYFALL_REQUEST_INTERVAL", default=0.1)
SCRYFALL_BACKOFF_SECONDS = env.float("SCRYFALL_BACKOFF_SECONDS", default=30.0)
SCRYFALL_BULK_TYPE = env("SCRYFALL_BULK_TYPE", default="default_cards")
# Bulk downloads land here (and resume from here after an interruption).
SCRYFALL_DOWNLOAD_DIR = Path(env("SCRYFALL_DOWNLOAD_DIR", default=str(DATA_DIR / "scryfall")))

# --- Store stock checks -----------------------------------------------------------------------
# A store's answer for a card is reused for this long (seconds): no request goes out before.
STORE_CHECK_TTL = env.int("STORE_CHECK_TTL", default=1800)
# How often the schedule re-checks every tracked card (only those older than STORE_CHECK_TTL).
STORE_RECHECK_MINUTES = env.int("STORE_RECHECK_MINUTES", default=360)
# Timeouts, 429s, 5xx and "too many searches" pages are retried this many times, after
# base * 2^n seconds (jittered, at most STORE_BACKOFF_MAX; a 429's Retry-After when longer).
STORE_MAX_RETRIES = env.int("STORE_MAX_RETRIES", default=3)
STORE_BACKOFF_BASE = env.float("STORE_BACKOFF_BASE", default=2.0)
STORE_BACKOFF_MAX = env.float("STORE_BACKOFF_MAX", default=60.0)
STORE_REQUEST_TIMEOUT = env.float("STORE_REQUEST_TIMEOUT", default=UPSTREAM_TIMEOUT)
# The longest one request waits for its store's politeness limits before the check fails.
STORE_MAX_WAIT = env.float("STORE_MAX_WAIT", default=300.0)
# A queued check that has not finished after this many seconds is taken as lost (its worker
# died) and may be queued again.
STORE_CHECK_LOST_AFTER = env.int("STORE_CHECK_LOST_AFTER", default=900)
# The dashboard asks for fresh rows this often (seconds) while checks are pending.
STORE_POLL_SECONDS = env.int("STORE_POLL_SECONDS", default=2)

# --- Pilot's ledger ---------------------------------------------------------------------------
# "Refresh now" on the ledger runs on its own django-q2 cluster (queue), so it never waits behind
# the periodic jobs; `manage.py run` starts it next to the default cluster.
LEDGER_PRIORITY_CLUSTER = env("LEDGER_PRIORITY_CLUSTER", default="lenny-priority")
Q_CLUSTER["ALT_CLUSTERS"] = {
    LEDGER_PRIORITY_CLUSTER: {"workers": env.int("Q_PRIORITY_WORKERS", default=1)}
}
