#!/bin/sh
# Applies the sql/NNN_*.sql migrations not yet recorded in schema_migrations,
# in order, each in one transaction together with its record, so a failing
# migration leaves nothing behind. Safe to run concurrently (an advisory lock
# serialises runners, and each re-checks under the lock) and to run again.
#
#   scripts/migrate.sh postgres://user@host:port/db
#
# The migrations are read from $JKLG_SQL_DIR, or else from ../sql next to
# this script's real location: sql/ of the checkout, or
# /usr/share/libapache2-mod-jklg/sql when installed by the Debian package
# (as /usr/bin/jklg-migrate, a link to this script).
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DATABASE_URL" >&2
    exit 2
fi
database_url=$1

script_dir=$(dirname "$(readlink -f "$0")")
sql_dir=$(cd "${JKLG_SQL_DIR:-$script_dir/../sql}" && pwd) || {
    echo "migrate: no migrations directory (set JKLG_SQL_DIR)" >&2
    exit 1
}

find_psql() {
    if command -v psql >/dev/null 2>&1; then
        command -v psql
        return
    fi
    # Debian installs each server version under its own directory: take the
    # newest, whose psql talks to every older server.
    best='' best_version=0
    for bin in /usr/lib/postgresql/*/bin/psql; do
        [ -x "$bin" ] || continue
        version=${bin#/usr/lib/postgresql/}
        version=${version%%/*}
        version=${version%%.*}
        if [ "$version" -gt "$best_version" ]; then
            best=$bin best_version=$version
        fi
    done
    if [ -z "$best" ]; then
        echo "migrate: psql not found (install postgresql-client)" >&2
        exit 1
    fi
    echo "$best"
}
psql=$(find_psql)

# Any constant shared by all runners; this one is "jklg" in ASCII.
lock_key=1785424999

# Builds one psql script: create the bookkeeping table, then one transaction
# per migration file that takes the lock, re-checks, applies and records.
build_script() {
    # Query results go to /dev/null; \echo still reaches stdout.
    # The tables live in public. The default search_path starts with
    # "$user", and the module's role is usually called jklg, like the
    # schema of its SQL API (sql/009): unpinned, later tables would land in
    # that schema instead.
    cat <<EOF
SET client_min_messages = warning;
SET search_path = public;
\o /dev/null
BEGIN;
SELECT pg_advisory_xact_lock($lock_key);
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMIT;
EOF
    for file in "$sql_dir"/[0-9][0-9][0-9]_*.sql; do
        [ -e "$file" ] || continue
        name=$(basename "$file")
        version=${name%.sql}
        case $version in
            *[!a-z0-9_]*)
                echo "migrate: $name: use only a-z, 0-9 and _ in migration names" >&2
                exit 1 ;;
        esac
        # Its own BEGIN/COMMIT would end the transaction early and record a
        # half-applied migration.
        if grep -Eiq '^[[:space:]]*(begin|commit|rollback|start[[:space:]]+transaction)[[:space:]]*;' "$file"; then
            echo "migrate: $name must not contain BEGIN/COMMIT/ROLLBACK: the runner wraps it in a transaction" >&2
            exit 1
        fi
        cat <<EOF
BEGIN;
SELECT pg_advisory_xact_lock($lock_key);
SELECT NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = '$version') AS pending \gset
\if :pending
\i $name
INSERT INTO schema_migrations (version) VALUES ('$version');
COMMIT;
\echo applied $version
\else
COMMIT;
\endif
EOF
    done
}

script=$(build_script)

# \i resolves file names relative to the working directory.
cd "$sql_dir"
status=0
output=$(printf '%s\n' "$script" |
         PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10} \
         "$psql" -X -q -v ON_ERROR_STOP=1 -d "$database_url" -f -) || status=$?

[ -n "$output" ] && printf '%s\n' "$output"
if [ "$status" -ne 0 ]; then
    echo "migrate: failed (a migration that fails is rolled back entirely)" >&2
    exit "$status"
fi
[ -n "$output" ] || echo "schema up to date"
