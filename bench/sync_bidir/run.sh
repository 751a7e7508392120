#!/usr/bin/env bash
# Bi-directional sync benchmark: pymigrate against pglogical, both
# configured both ways, writers on both sides with 1 % conflicting changes
# (method and output: bench/sync_bidir/sync_bidir_bench.py).
#   BENCH_QUICK=1       1 s warm-up, 2 s loads: under 2 minutes
#   SYNC_BENCH_SECONDS  length of each measured load (default 8, quick 2)
#   SYNC_BENCH_SYSTEMS  comma list of pymigrate,pglogical (default both)
set -euo pipefail
top="${PYMIGRATE_TOP:?run through make bench}"
build="${PYMIGRATE_BUILD:?run through make bench}"
export PYMIGRATE_PGBIN="${PYMIGRATE_PGBIN:?run through make bench}"
pm_cluster="$build/cmake/test/harness/pm-cluster"
[[ -f "$(dirname "$PYMIGRATE_PGBIN")/lib/pglogical.so" ]] ||
    echo "sync_bidir bench: pglogical is not in the server tree (install postgresql-15-pglogical, then make tmp-install)" >&2
exec "$pm_cluster" run -c a -c b -- \
    env PM_CLUSTER="$pm_cluster" PYMIGRATE_TOP="$top" PYTHONPATH="$top/bench/lib" \
    /usr/bin/python3 "$top/bench/sync_bidir/sync_bidir_bench.py"
