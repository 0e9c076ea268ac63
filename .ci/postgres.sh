# Sourced by .ci/run: a local PostgreSQL server for the shared-search test (tests/search).
# Installs Debian's `postgresql` if missing, starts its cluster unless it already runs, makes
# a password role + database (idempotent, so reruns are fine) and exports
# WEIGHTLIGHT_TEST_PG. Any failure is reported and left to the test, which fails under CI.
# The role's password is a throwaway for a server that only listens on localhost.

_pg_setup() {
  local role=weightlight db=weightlight_test password=weightlight
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || { echo "ci: no apt-get to install postgresql" >&2; return 1; }
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
      >/dev/null 2>&1 || { echo "ci: postgresql could not be installed" >&2; return 1; }
  fi
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  # The package makes a cluster called main; a machine where it was dropped gets a new one.
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster "$version" main >/dev/null || return 1
  fi
  if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    pg_ctlcluster "$version" main start || { echo "ci: postgresql did not start" >&2; return 1; }
  fi
  local port
  port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 1
  done
  local sql=(runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$port" -tA)
  if [ -z "$("${sql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" ]; then
    "${sql[@]}" -c "CREATE ROLE $role LOGIN" || return 1
  fi
  "${sql[@]}" -c "ALTER ROLE $role PASSWORD '$password'" || return 1
  if [ -z "$("${sql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    "${sql[@]}" -c "CREATE DATABASE $db OWNER $role" || return 1
  fi
  local url="$role:$password@127.0.0.1:$port/$db"
  echo "ci: PostgreSQL server: $(psql "postgresql://$url" -tAc 'SELECT version()')"
  # SQLAlchemy's plain postgresql:// means psycopg2 before 2.1 and psycopg 3 since: name it.
  export WEIGHTLIGHT_TEST_PG="postgresql+psycopg://$url"
}

_pg_setup || echo "ci: no PostgreSQL server; the shared-search test will fail under CI" >&2
