#!/bin/sh
# Lenny's database backups: pg_dump in PostgreSQL's custom format into BACKUP_DIR, keeping the
# newest BACKUP_KEEP. The ledger's journal and transactions exist nowhere else once ESI has
# dropped them (after 30 days), so these dumps are the only way back from a lost database.
#
#   backup.sh           a dump now, then one every BACKUP_INTERVAL_HOURS (the compose service)
#   backup.sh --once    one dump and pruning; exits non-zero when the dump failed
#   backup.sh --check   exits 0 while the newest dump is younger than two intervals (+1 h):
#                       the service's healthcheck, so a backup that keeps failing shows
#
# The connection comes from libpq's own variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
# PGDATABASE): the password is never on a command line (where `ps` shows it) nor in this
# script's output. Each dump is written to a hidden .partial file and renamed when complete,
# so a file named lenny-*.dump is always a whole dump; older dumps are pruned only after a new
# one succeeded. See README.md, "Backups", for restoring.
set -u

BACKUP_DIR=${BACKUP_DIR:-/backups}
BACKUP_KEEP=${BACKUP_KEEP:-14}
BACKUP_INTERVAL_HOURS=${BACKUP_INTERVAL_HOURS:-24}

log() { printf '%s backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
fail() { log "$*" >&2; }

case $BACKUP_KEEP in
  '' | *[!0-9]*) fail "BACKUP_KEEP must be a whole number of dumps, not '$BACKUP_KEEP'"; exit 2 ;;
esac
if [ "$BACKUP_KEEP" -lt 1 ]; then
  fail "BACKUP_KEEP must be at least 1"
  exit 2
fi
if ! interval=$(awk -v h="$BACKUP_INTERVAL_HOURS" 'BEGIN {
    if (h !~ /^[0-9]+(\.[0-9]+)?$/) exit 1
    s = int(h * 3600); if (s < 1) exit 1
    printf "%d", s }'); then
  fail "BACKUP_INTERVAL_HOURS must be a positive number of hours, not '$BACKUP_INTERVAL_HOURS'"
  exit 2
fi

child=""
partial=""
stop() {
  # `docker compose stop` sends TERM: end pg_dump too and leave no partial file behind.
  [ -n "$child" ] && kill "$child" 2>/dev/null
  [ -n "$partial" ] && rm -f "$partial"
  log "stopped"
  exit 143
}
trap stop TERM INT

backup_once() {
  if ! mkdir -p "$BACKUP_DIR"; then
    fail "cannot create $BACKUP_DIR; no backup written"
    return 1
  fi
  # A run killed outright (SIGKILL, power loss) leaves its partial file: never a backup.
  rm -f "$BACKUP_DIR"/.lenny-*.dump.partial
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  final="$BACKUP_DIR/lenny-$stamp.dump"
  partial="$BACKUP_DIR/.lenny-$stamp.dump.partial"
  started=$(date +%s)
  # In the background and waited for, so a TERM reaches the trap at once, not after the dump.
  pg_dump --format=custom --file="$partial" &
  child=$!
  wait "$child"
  status=$?
  child=""
  if [ "$status" -ne 0 ]; then
    rm -f "$partial"
    partial=""
    fail "pg_dump failed (exit $status): no backup written, older ones kept"
    return 1
  fi
  sync "$partial" 2>/dev/null || sync
  mv "$partial" "$final"
  partial=""
  log "wrote $final ($(wc -c <"$final" | tr -d ' ') bytes in $(($(date +%s) - started)) s)"
  # Names sort by time; keep the newest BACKUP_KEEP, whatever else lives in the folder.
  ls -1 "$BACKUP_DIR" | grep -E '^lenny-[0-9]{8}T[0-9]{6}Z\.dump$' | sort -r \
    | tail -n +"$((BACKUP_KEEP + 1))" | while read -r old; do
      rm -f "$BACKUP_DIR/$old" && log "removed $old (keeping the newest $BACKUP_KEEP)"
    done
  return 0
}

case ${1:-} in
  --once)
    backup_once
    exit $?
    ;;
  --check)
    limit=$((interval * 2 / 60 + 60))
    if find "$BACKUP_DIR" -maxdepth 1 -name 'lenny-*.dump' -mmin -"$limit" 2>/dev/null | grep -q .; then
      exit 0
    fi
    fail "no backup newer than $limit minutes in $BACKUP_DIR"
    exit 1
    ;;
  '') ;;
  *)
    echo "usage: backup.sh [--once | --check]" >&2
    exit 2
    ;;
esac

log "every $BACKUP_INTERVAL_HOURS h into $BACKUP_DIR, keeping $BACKUP_KEEP"
while :; do
  if backup_once; then
    pause=$interval
  else
    # Try again within the hour rather than a whole interval later.
    pause=$((interval < 3600 ? interval : 3600))
  fi
  sleep "$pause" &
  child=$!
  wait "$child"
  child=""
done
