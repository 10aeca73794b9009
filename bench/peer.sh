#!/usr/bin/env bash
# Side by side with a peer users would pick instead (issue 9): django-helpdesk's ticket API
# (DRF, from PyPI) and casework, each on SQLite with the server pinned to core 0 and the load
# generator to core 1, at the same concurrency: create, get (a random stored ticket) and list
# (the first page, 25 tickets and the count) with 1,000 and 20,000 tickets stored. One JSON
# line per measurement, kept in bench/results/peer.jsonl, then a markdown table.
#
#   bench/peer.sh
#
# django-helpdesk is installed into a venv in a throwaway folder (removed on exit; nothing of
# it lands in the repository). Set PEER_VENV to a folder to keep the venv there between runs.
#
# Settings (environment): SECONDS_PER_RUN (10), CONCURRENCY (16), SIZES ("1000 20000"),
# SYSTEMS ("django-helpdesk casework"), DJANGO_WORKERS (1) and DJANGO_THREADS (4), PEER_VENV
# (a throwaway folder), OUT (bench/results/peer.jsonl).
#
# Setup, so each system gets its best honest figure:
# - gunicorn's gthread worker, the only built-in one with HTTP/1.1 keep-alive (sync workers
#   close every connection): 1 worker with 4 threads on the one core. With one core, more
#   workers only add context switches for CPU-bound requests; the threads overlap SQLite's
#   fsyncs and the network. 1×4 gave the best figures of 1×1, 1×4, 1×8 and 2×2 here.
# - Django: DEBUG off, persistent database connections, SQLite in WAL with synchronous=FULL
#   (casework's durability) and IMMEDIATE transactions (no lock-upgrade deadlocks), a dummy
#   email backend (a create sends mail), JSON renderer only.
# - Auth: DRF token auth (one indexed lookup a call, like casework's JWT check). Basic auth
#   would run Django's PBKDF2 password hash on every call and measure little else.
# - Stored tickets: django's by bulk_create through the ORM (each with its "Ticket Opened"
#   follow-up, as an API create makes); casework's by `casework-bench seed` (gRPC). Measured
#   creates all go through the APIs. Each size starts from a fresh database.
# - A run counts the calls that complete in its window, which stays open until at least
#   CONCURRENCY have: with 20k tickets one django-helpdesk read takes ~7 s alone (its viewset
#   loads every ticket on each call), so those runs last about two minutes each.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-10}
concurrency=${CONCURRENCY:-16}
sizes=${SIZES:-1000 20000}
systems=${SYSTEMS:-django-helpdesk casework}
django_workers=${DJANGO_WORKERS:-1}
django_threads=${DJANGO_THREADS:-4}
server_core=0
load_core=1
store=sqlite

# shellcheck source=bench/lib.sh
. bench/lib.sh
out=${OUT:-bench/results/peer.jsonl}
: >"$out"

venv=${PEER_VENV:-$work/venv}
site=$work/site
gunicorn_pid=
peer_cleanup() {
  [ -z "$gunicorn_pid" ] || kill "$gunicorn_pid" 2>/dev/null || true
  cleanup
}
trap peer_cleanup EXIT

http() { taskset -c $load_core "$bench" http --concurrency "$concurrency" --seconds "$seconds" "$@"; }

# --- django-helpdesk: venv, a minimal project, a migrated template database -----------------
[ -x "$venv/bin/gunicorn" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check django-helpdesk gunicorn
}
"$venv/bin/pip" list --disable-pip-version-check 2>/dev/null |
  awk '$1 ~ /^(django-helpdesk|Django|djangorestframework|gunicorn)$/ { printf "%s %s; ", $1, $2 } END { print "" }' >&2

mkdir -p "$site"
cat >"$site/settings.py" <<'EOF'
import os

BASE = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "throwaway-benchmark-site"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]
SITE_ID = 1
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.path.join(BASE, "helpdesk.db"),
    "CONN_MAX_AGE": None,
    "OPTIONS": {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    },
}}
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
HELPDESK_TEAMS_MODE_ENABLED = False  # else it needs pinax-teams
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
EOF
cat >"$site/urls.py" <<'EOF'
from django.urls import include, path

urlpatterns = [path("", include("helpdesk.urls", namespace="helpdesk"))]
EOF
cat >"$site/wsgi.py" <<'EOF'
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
EOF
cat >"$site/manage.py" <<'EOF'
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
EOF
manage() { (cd "$site" && "$venv/bin/python" manage.py "$@"); }
manage migrate -v0
# A staff superuser (the ticket API is admin-only), its DRF token, one queue.
export DJANGO_HELPDESK_TOKEN
DJANGO_HELPDESK_TOKEN=$(manage shell -v0 -c '
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from helpdesk.models import Queue
user = get_user_model().objects.create_superuser("bench", "bench@example.com", "unused-password")
Queue.objects.create(id=1, title="Chat SG EN", slug="chat-sg-en")
print(Token.objects.create(user=user).key)
' | tail -1)
manage shell -v0 -c 'from django.db import connection; connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")'
cp "$site/helpdesk.db" "$work/helpdesk-template.db"

# seed_django N: a fresh database with N tickets, each with its opening follow-up.
seed_django() {
  rm -f "$site"/helpdesk.db*
  cp "$work/helpdesk-template.db" "$site/helpdesk.db"
  manage shell -v0 -c "
from django.db import transaction
from helpdesk.models import FollowUp, Queue, Ticket
queue = Queue.objects.get(id=1)
with transaction.atomic():
    for start in range(0, $1, 2000):
        tickets = Ticket.objects.bulk_create([
            Ticket(queue=queue, title=f'Order {n} arrived cold', priority=n % 5 + 1,
                   description='Hello, my order arrived cold.',
                   submitter_email=f'customer-{n % 5000}@example.com')
            for n in range(start, min(start + 2000, $1))])
        FollowUp.objects.bulk_create([
            FollowUp(ticket=t, title='Ticket Opened', comment=t.description, public=True)
            for t in tickets])
print(Ticket.objects.count())
" >/dev/null
}

# start_django: gunicorn on core 0 (the worker config above); sets django_url.
start_django() {
  local port
  port=$(free_port)
  taskset -c $server_core "$venv/bin/gunicorn" --chdir "$site" --bind "127.0.0.1:$port" \
    --worker-class gthread --workers "$django_workers" --threads "$django_threads" \
    --keep-alive 30 --no-control-socket --log-level warning wsgi:application \
    >"$work/gunicorn.log" 2>&1 &
  gunicorn_pid=$!
  django_url="http://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    if curl -fsS "$django_url/api/" >/dev/null 2>&1; then
      # The service time of one get with nothing else in flight (the second, warm call).
      for probe in cold warm; do
        curl -sS -o /dev/null -w "django-helpdesk, one $probe get alone: %{time_total}s\n" \
          -H "Authorization: Token $DJANGO_HELPDESK_TOKEN" "$django_url/api/tickets/1/" >&2
      done
      return
    fi
    sleep 0.2
  done
  cat "$work/gunicorn.log" >&2
  exit 1
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

for tickets in $sizes; do
  if [[ " $systems " == *" django-helpdesk "* ]]; then
    seed_django "$tickets"
    start_django
    for workload in get list create; do
      note "$(http --system django-helpdesk --workload "$workload" --base-url "$django_url")" "$tickets"
    done
    stop "$gunicorn_pid"
    gunicorn_pid=
    # Worker timeouts and errors, if any (warnings and up).
    cat "$work/gunicorn.log" >&2
  fi
  if [[ " $systems " == *" casework "* ]]; then
    start_server "sqlite://$work/casework-$tickets.db"
    taskset -c $load_core "$bench" seed "${target[@]}" --tickets "$tickets" --concurrency 64
    for workload in get list create; do
      note "$(http --system casework --workload "$workload" --base-url "${target[1]}")" "$tickets"
    done
    stop "$server_pid"
    server_pid=
  fi
done

jq -rs '
  def fmt: if . >= 100 then (. | round | tostring) else ((. * 100 | round) / 100 | tostring) end;
  "| system | workload | tickets stored | calls/s | p50 ms | p99 ms |",
  "| --- | --- | --- | --- | --- | --- |",
  (sort_by(.workload, .tickets_stored, .system) | .[] |
    "| \(.system) | \(.workload) | \(.tickets_stored) | \(.per_second | fmt) | \(.p50_ms | fmt) "
    + "| \(.p99_ms | fmt)\(if .errors > 0 then " (\(.errors) errors)" else "" end) |")
' "$out"
