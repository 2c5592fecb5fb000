#!/usr/bin/env bash
# The whole gate (rules §8): Debian packages the tests need, a throwaway PostgreSQL on loopback,
# then the static checks of scripts/check.sh (ruff, mypy, import contracts) and pytest.
# Called by `make test`, which CI runs as `.ci/run`. `make check` runs the static checks alone, without root.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PG_BIN=/usr/lib/postgresql/15/bin

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x "$PG_BIN/initdb" ] || need+=(postgresql-15)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

pg_dir=$(mktemp -d)
chown postgres "$pg_dir"
stop_pg() { su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $pg_dir/data -m fast stop" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_pg EXIT
su postgres -s /bin/sh -c "$PG_BIN/initdb -D $pg_dir/data -A trust -U margin >/dev/null && \
  $PG_BIN/pg_ctl -D $pg_dir/data -o '-p 54329 -k $pg_dir -c listen_addresses=127.0.0.1' -l $pg_dir/log -w start >/dev/null"
export MARGIN_TEST_PG_URL="postgresql+psycopg://margin@127.0.0.1:54329/postgres"

VENV="$VENV" bash scripts/check.sh
echo "== pytest"
"$VENV/bin/pytest" -q -p no:cacheprovider
