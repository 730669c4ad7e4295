#!/usr/bin/env bash
# Sets up a real STAC API server for tests/test_watch_stac_pgstac.py: PostGIS on the PostgreSQL
# cluster that .ci/run's setup_postgres starts (Debian's postgresql-VER-postgis-3), a database
# `sitewatch_stac` with pgstac migrated into it (pypgstac migrate), and stac-fastapi-pgstac with
# uvicorn in a venv of their own (.venv-stac, or $SITEWATCH_STAC_ENV; from scripts/stac-requirements.txt,
# rebuilt only when that file changes), so their FastAPI/pydantic pins never touch .venv.
#
# Usage: eval "$(bash scripts/setup_pgstac.sh)"
# It prints on stdout only the `export` lines the tests read (SITEWATCH_TEST_PGSTAC_DSN,
# SITEWATCH_TEST_STAC_PYTHON); progress and problems go to stderr. It never fails its caller:
# where a step fails (apt, pip, the cluster) it says why on stderr and in .venv-stac.failed,
# prints no exports and exits 0, and the pgstac tests skip with that reason. A second run
# finds everything in place and takes a few seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
ENV=${SITEWATCH_STAC_ENV:-.venv-stac}
REQ=scripts/stac-requirements.txt
PY=${PYTHON:-python3}
FAILED="$ENV.failed"
LOG="$ENV.log"
DB=sitewatch_stac
ROLE=sitewatch_stac

say() { echo "setup_pgstac: $*" >&2; }
fail() {
    echo "$1" >"$FAILED"
    say "$1; tests/test_watch_stac_pgstac.py will skip"
    exit 0
}
exec 3>&1 1>&2  # stdout is eval'ed by the caller: only the exports go there (fd 3)
rm -f "$FAILED"
: >"$LOG"
start=$(date +%s)

as_root=() as_postgres=()
if [ "$(id -u)" != 0 ]; then as_root=(sudo); as_postgres=(sudo -u postgres); else as_postgres=(runuser -u postgres --); fi

# --- PostGIS on the newest PostgreSQL installed (the one .ci/run's setup_postgres uses) -------
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
[ -n "$ver" ] || fail "no PostgreSQL under /usr/lib/postgresql (.ci/run's setup_postgres installs it)"
if [ ! -f "/usr/share/postgresql/$ver/extension/postgis.control" ]; then
    say "installing postgresql-$ver-postgis-3 (apt)"
    { "${as_root[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q "postgresql-$ver-postgis-3"; } >"$LOG" 2>&1 \
        || fail "apt-get install postgresql-$ver-postgis-3 failed: $(grep -E '^(E|Err):' "$LOG" | tail -1 | cut -c1-300) (see $LOG)"
fi

# --- the cluster, running ---------------------------------------------------------------------
port=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" {print $3}')
[ -n "$port" ] || fail "no PostgreSQL $ver cluster 'main' (.ci/run's setup_postgres creates it)"
"${as_root[@]}" pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true  # already running is fine
for _ in $(seq 30); do pg_isready -q -h localhost -p "$port" && break; sleep 1; done
pg_isready -q -h localhost -p "$port" || fail "PostgreSQL $ver on port $port does not answer"

# --- a role and a database for pgstac; its extensions created by the superuser ---------------
psql=("${as_postgres[@]}" psql -p "$port" -v ON_ERROR_STOP=1 -qtA)
{
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
        "${psql[@]}" -c "CREATE ROLE $ROLE LOGIN CREATEROLE PASSWORD '$ROLE'"
    fi
    # pgstac's own roles, made here and granted to ours: its migration sets them (SET ROLE,
    # ALTER ... OWNER TO), which on PostgreSQL 15 takes membership, not CREATEROLE alone.
    for r in pgstac_admin pgstac_read pgstac_ingest; do
        if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$r'")" != 1 ]; then
            "${psql[@]}" -c "CREATE ROLE $r"
        fi
        "${psql[@]}" -c "GRANT $r TO $ROLE WITH ADMIN OPTION"
    done
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
        "${psql[@]}" -c "CREATE DATABASE $DB OWNER $ROLE"
    fi
    for ext in postgis btree_gist unaccent; do
        "${psql[@]}" -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS $ext"
    done
} >>"$LOG" 2>&1 || fail "creating the role, database or extensions failed: $(tail -1 "$LOG" | cut -c1-300) (see $LOG)"
dsn="postgresql://$ROLE:$ROLE@localhost:$port/$DB"

# --- stac-fastapi-pgstac, pypgstac and uvicorn in their own venv ------------------------------
if ! [ -f "$ENV/.installed" ] || ! [ "$ENV/.installed" -nt "$REQ" ]; then
    rm -rf "$ENV"
    say "building $ENV from $REQ"
    "$PY" -m venv "$ENV" >>"$LOG" 2>&1 || fail "'$PY -m venv $ENV' failed (see $LOG)"
    "$ENV/bin/pip" install --quiet --upgrade pip >>"$LOG" 2>&1 || true
    if ! "$ENV/bin/pip" install --quiet -r "$REQ" >>"$LOG" 2>&1; then
        rm -rf "$ENV"
        fail "pip install -r $REQ failed: $(grep -E '^ERROR' "$LOG" | tail -1 | cut -c1-300) (see $LOG)"
    fi
    if ! "$ENV/bin/python" -c "import stac_fastapi.pgstac.app, pypgstac, psycopg, uvicorn" >>"$LOG" 2>&1; then
        rm -rf "$ENV"
        fail "the stac-fastapi-pgstac venv does not import: $(tail -1 "$LOG" | cut -c1-300) (see $LOG)"
    fi
    touch "$ENV/.installed"
fi

# --- pgstac's schema, at pypgstac's version (nothing to do when it already is) ----------------
if ! "$ENV/bin/pypgstac" migrate --dsn "$dsn" >>"$LOG" 2>&1; then
    fail "pypgstac migrate failed: $(grep -v '^\s*$' "$LOG" | tail -1 | cut -c1-300) (see $LOG)"
fi
pgstac=$("$ENV/bin/pypgstac" version --dsn "$dsn" 2>>"$LOG" | tail -1)
say "pgstac $pgstac in database $DB on PostgreSQL $ver (port $port), stac-fastapi-pgstac in $ENV, in $(($(date +%s) - start)) s"
echo "export SITEWATCH_TEST_PGSTAC_DSN='$dsn'" >&3
echo "export SITEWATCH_TEST_STAC_PYTHON='$PWD/$ENV/bin/python'" >&3
