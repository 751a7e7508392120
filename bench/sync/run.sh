#!/usr/bin/env bash
# One-way replication benchmark: pymigrate against native logical
# replication and pglogical, on the same two throwaway clusters, for an
# update-heavy and an insert-heavy workload on sample-monolith tables
# (method and output: bench/sync/sync_bench.py).
#   SYNC_BENCH_SECONDS  length of each measured load (default 8)
#   SYNC_BENCH_SYSTEMS  comma list of pymigrate,native,pglogical (default all)
set -euo pipefail
top="${PYMIGRATE_TOP:?run through make bench}"
build="${PYMIGRATE_BUILD:?run through make bench}"
export PYMIGRATE_PGBIN="${PYMIGRATE_PGBIN:?run through make bench}"
pm_cluster="$build/cmake/test/harness/pm-cluster"
[[ -f "$(dirname "$PYMIGRATE_PGBIN")/lib/pglogical.so" ]] ||
    echo "sync bench: pglogical is not in the server tree (install postgresql-15-pglogical, then make tmp-install)" >&2
exec "$pm_cluster" run -c provider -c subscriber -- \
    env PM_CLUSTER="$pm_cluster" PYMIGRATE_TOP="$top" PYTHONPATH="$top/bench/lib" \
    /usr/bin/python3 "$top/bench/sync/sync_bench.py"
