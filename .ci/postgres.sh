#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the server tests (issue #15). Idempotent: reuses a running
# cluster, installs Debian's `postgresql` only when no server binaries exist. initdb refuses to run as
# root, so as root the cluster runs as the `postgres` user. Skips (exit 0, message on stderr) ONLY when
# PostgreSQL is missing and apt-get is unavailable; the tests then skip unless CI is set.
#   MESHAUTHZ_PG_PORT (default 55432), MESHAUTHZ_PG_DATA (default /tmp/meshauthz-pg)
#   tests connect to MESHAUTHZ_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:55432/postgres)
set -euo pipefail
PORT="${MESHAUTHZ_PG_PORT:-55432}"
DATA="${MESHAUTHZ_PG_DATA:-/tmp/meshauthz-pg}"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN="$(pg_bin || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: PostgreSQL is not installed and apt-get is unavailable: PostgreSQL tests will be skipped" >&2
    exit 0
  fi
  echo "postgres.sh: installing postgresql (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  BIN="$(pg_bin)"
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  echo "postgres.sh: PostgreSQL already running on 127.0.0.1:$PORT" >&2
  exit 0
fi

AS=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  AS=(runuser -u postgres --)
fi
mkdir -p "$DATA"
[ "$(id -u)" = 0 ] && chown postgres "$DATA" && chmod 700 "$DATA"
if [ ! -f "$DATA/PG_VERSION" ]; then
  "${AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 >/dev/null
fi
"${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
  -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
echo "postgres.sh: PostgreSQL running on 127.0.0.1:$PORT (data $DATA)" >&2
