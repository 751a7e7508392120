#!/usr/bin/env bash
# Bi-directional sync benchmark: pymigrate against pglogical, both
# configured both ways, writers on both sides with 1 % conflicting changes
# (method and output: bench/sync_bidir/sync_bidir_bench.py).
#   BENCH_QUICK=1       1 s warm-up, 2 s loads: under 2 minutes
#   SYNC_BENCH_SECONDS  length of each measured load (default 8, quick 2)
#   SYNC_BENCH_SYSTEMS  comma list of pymigrate,pglogical (default both)
here=$(dirname "$0")
exec "$here/../lib/with-clusters.sh" "$here/sync_bidir_bench.py" a b
