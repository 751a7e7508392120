#!/usr/bin/env bash
# bench/lib/with-clusters.sh SCRIPT CLUSTER...: runs the Python benchmark
# SCRIPT against throwaway clusters started by pm-cluster under the given
# names (PM_<NAME>_DSN and the rest in its environment, benchpg.py on its
# path). Shared by the sync benchmarks' run.sh, whose peer is pglogical.
set -euo pipefail
top="${PYMIGRATE_TOP:?run through make bench}"
build="${PYMIGRATE_BUILD:?run through make bench}"
export PYMIGRATE_PGBIN="${PYMIGRATE_PGBIN:?run through make bench}"
pm_cluster="$build/cmake/test/harness/pm-cluster"
script=$1
shift
[[ -f "$(dirname "$PYMIGRATE_PGBIN")/lib/pglogical.so" ]] ||
    echo "$(basename "$script"): pglogical is not in the server tree (install postgresql-15-pglogical, then make tmp-install)" >&2
clusters=()
for c in "$@"; do clusters+=(-c "$c"); done
exec "$pm_cluster" run "${clusters[@]}" -- \
    env PM_CLUSTER="$pm_cluster" PYMIGRATE_TOP="$top" PYTHONPATH="$top/bench/lib" /usr/bin/python3 "$script"
