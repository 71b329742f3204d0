#!/usr/bin/env bash
# Run the test suite: unit and integration tests on SQLite and on a throw-away PostgreSQL cluster.
# Used by `make test` (and so by CI). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
pg_dir=""
cleanup() {
  if [ -n "$pg_dir" ]; then scripts/pg-cluster.sh stop "$pg_dir" || true; rm -rf "$pg_dir"; fi
}
trap cleanup EXIT

if ! scripts/system-deps.sh && [ "${CI:-}" = "true" ]; then
  echo "CI needs the Debian packages above and they could not be installed" >&2
  exit 1
fi

if [ -z "${CONCORD_TEST_PG_URL:-}" ]; then
  if scripts/pg-cluster.sh install; then
    pg_dir=$(mktemp -d /tmp/concord-test-pg.XXXXXX)
    port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    scripts/pg-cluster.sh start "$pg_dir" "$port"
    export CONCORD_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    echo "PostgreSQL test cluster on 127.0.0.1:$port"
  elif [ "${CI:-}" = "true" ]; then
    echo "CI needs PostgreSQL and it could not be installed" >&2
    exit 1
  else
    echo "PostgreSQL unavailable: PostgreSQL tests will be skipped" >&2
  fi
fi

$PY -m pytest "$@"
