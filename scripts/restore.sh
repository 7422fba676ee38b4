#!/bin/sh
# Restore a dump written by scripts/backup.sh into the database libpq's variables name
# (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), replacing what is there.
#
#   restore.sh FILE
#
# Before: stop everything that writes (web, worker, priority-worker). After: migrate (the web
# service runs `manage.py migrate` when it starts), so a dump from an older Lenny gets the
# newer tables. The whole restore is one transaction: a failure leaves the database as it was.
# README.md, "Backups", has the compose commands.
set -u

if [ $# -ne 1 ]; then
  echo "usage: restore.sh FILE" >&2
  exit 2
fi
file=$1
if [ ! -f "$file" ]; then
  echo "restore: no such file: $file" >&2
  exit 2
fi
# Read the archive's table of contents first: a truncated or foreign file stops here, before
# anything is dropped.
if ! pg_restore --list "$file" >/dev/null; then
  echo "restore: $file is not a whole pg_dump custom-format archive; nothing changed" >&2
  exit 1
fi
database=${PGDATABASE:-${PGUSER:-$(id -un)}}
echo "restore: replacing database '$database' on ${PGHOST:-the local socket} with $file"
# pg_restore --clean cannot replace a partitioned table: it drops each partition's inherited
# primary key one by one, which PostgreSQL refuses (market_order keeps a partition per
# snapshot). So the archive becomes SQL first (--no-owner/--no-privileges: the objects belong
# to whoever restores, whatever role made the dump), and psql empties the schema and replays it
# in ONE transaction with ON_ERROR_STOP: all of it or nothing.
sql=$(mktemp "${TMPDIR:-/tmp}/lenny-restore.XXXXXX") || exit 1
trap 'rm -f "$sql"' EXIT INT TERM
if ! pg_restore --no-owner --no-privileges --file="$sql" "$file"; then
  echo "restore: $file could not be read whole; nothing changed" >&2
  exit 1
fi
if ! psql -X -q -v ON_ERROR_STOP=1 --single-transaction --dbname="$database" \
  -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;" -f "$sql" >/dev/null; then
  echo "restore: the restore failed; the database was left as it was" >&2
  exit 1
fi
echo "restore: done; now run migrations (manage.py migrate) before starting Lenny again"
