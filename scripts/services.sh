#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and the browser the tests drive are installed and running.
# Idempotent: on a machine where everything runs already it only checks.
set -euo pipefail

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U root -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian cluster has no `root` role and no trust on loopback: add both.
  version=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  $SUDO sed -i '1i host all root 127.0.0.1/32 trust\nhost all root ::1/128 trust' "$hba"
  $SUDO runuser -u postgres -- psql -qc "DO \$\$BEGIN CREATE ROLE root SUPERUSER LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$;"
  $SUDO runuser -u postgres -- psql -qc "SELECT pg_reload_conf();" >/dev/null
fi
psql -h 127.0.0.1 -U root -d postgres -Atqc "select 1 from pg_database where datname='lenny'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U root lenny

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
echo "services: postgresql and redis are up"
