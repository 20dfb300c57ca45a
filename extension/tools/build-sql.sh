#!/bin/sh
# An extension's install or upgrade script, by plain concatenation of the files in sql/
# (or sql/aws/), written to stdout. Nothing is rewritten but the @EXTVERSION@ and
# @BUILD_ID@ placeholders. The files are of three kinds (sql/README.md):
#
#   SQLDIR/schema/*.sql   install only: types, tables, indexes, policies
#   SQLDIR/*.sql          re-runnable: functions, views, triggers (CREATE OR REPLACE), comments,
#                         grants, idempotent DO blocks; run by every install and every upgrade
#   SQLDIR/data/*.sql     install only: the built-in rows (after the check triggers exist)
#   SQLDIR/upgrades/A--B.sql  the frozen delta from release A to B: what re-running cannot do
#                         (new or altered tables, new rows, DROPs of removed or changed functions)
#
# An install script is schema + re-runnable + data; an upgrade script from release A is the
# chain of deltas from A to the version, then every re-runnable file.
#
#   build-sql.sh install EXTENSION VERSION SQLDIR
#   build-sql.sh upgrade EXTENSION FROM VERSION SQLDIR
#   build-sql.sh rerun EXTENSION VERSION SQLDIR     only the re-runnable files (for the test that re-runs them)
#   build-sql.sh releases SQLDIR VERSION    the releases with a chain of deltas to VERSION
#
# SQLDIR is relative to the repository's root (sql or sql/aws), so the output names the
# same paths wherever this runs.
set -eu
export LC_ALL=C
cd "$(dirname "$0")/../.."

# the delta from release $1 in $2/upgrades, or nothing
delta_from() {
    for f in "$2"/upgrades/"$1"--*.sql; do
        if [ -e "$f" ]; then echo "$f"; fi
    done
    return 0
}

# the chain of deltas from release $1 to $2 in $3, one file a line; fails if there is none
chain() {
    version=$1 steps=0
    while [ "$version" != "$2" ]; do
        delta=$(delta_from "$version" "$3")
        [ -n "$delta" ] || { echo "build-sql.sh: no delta from $version in $3/upgrades" >&2; return 1; }
        [ "$(echo "$delta" | wc -l)" = 1 ] || { echo "build-sql.sh: more than one delta from $version" >&2; return 1; }
        echo "$delta"
        version=$(basename "$delta" .sql); version=${version#*--}
        steps=$((steps + 1)); [ $steps -lt 100 ] || { echo "build-sql.sh: a cycle in $3/upgrades" >&2; return 1; }
    done
}

# a hash of every SQL file of the install script: churnml._build_id() returns it
build_id() {
    cat "$1"/schema/*.sql "$1"/*.sql "$1"/data/*.sql 2>/dev/null | sha256sum | cut -c1-16
}

emit() {  # file version build_id
    printf '\n-- ---- %s ----\n' "$1"
    sed -e "s/@EXTVERSION@/$2/g" -e "s/@BUILD_ID@/$3/g" "$1"
}

case "${1:-}" in
install)
    [ $# = 4 ] || { echo "usage: $0 install EXTENSION VERSION SQLDIR" >&2; exit 2; }
    ext=$2 version=$3 dir=$4 id=$(build_id "$4")
    echo "-- $ext $version install script, built from $dir/ by extension/tools/build-sql.sh: edit those, not this."
    echo "-- build id: $id"
    printf '\\echo Use "CREATE EXTENSION %s" to load this file. \\quit\n' "$ext"
    for f in "$dir"/schema/*.sql "$dir"/*.sql "$dir"/data/*.sql; do
        if [ -e "$f" ]; then emit "$f" "$version" "$id"; fi
    done
    ;;
upgrade)
    [ $# = 5 ] || { echo "usage: $0 upgrade EXTENSION FROM VERSION SQLDIR" >&2; exit 2; }
    ext=$2 from=$3 version=$4 dir=$5 id=$(build_id "$5")
    deltas=$(chain "$from" "$version" "$dir")
    echo "-- $ext upgrade $from -> $version, built from $dir/ by extension/tools/build-sql.sh: edit those, not this."
    echo "-- The deltas (run once), then every re-runnable file of the $version install script."
    echo "-- build id: $id"
    printf '\\echo Use "ALTER EXTENSION %s UPDATE" to load this file. \\quit\n' "$ext"
    for f in $deltas "$dir"/*.sql; do
        emit "$f" "$version" "$id"
    done
    ;;
rerun)
    [ $# = 4 ] || { echo "usage: $0 rerun EXTENSION VERSION SQLDIR" >&2; exit 2; }
    version=$3 dir=$4 id=$(build_id "$4")
    echo "-- $2 $version: the re-runnable files of $dir/"
    for f in "$dir"/*.sql; do
        emit "$f" "$version" "$id"
    done
    ;;
releases)
    [ $# = 3 ] || { echo "usage: $0 releases SQLDIR VERSION" >&2; exit 2; }
    for f in "$2"/upgrades/*--*.sql; do
        [ -e "$f" ] || continue
        from=$(basename "$f" .sql); from=${from%%--*}
        if chain "$from" "$3" "$2" >/dev/null 2>&1; then echo "$from"; fi
    done
    ;;
*)
    echo "usage: $0 install|upgrade|releases ..." >&2; exit 2 ;;
esac
