#!/usr/bin/env bash
# One-way replication benchmark: pymigrate against native logical
# replication and pglogical, on the same two throwaway clusters, for an
# update-heavy and an insert-heavy workload on sample-monolith tables
# (method and output: bench/sync/sync_bench.py).
#   SYNC_BENCH_SECONDS  length of each measured load (default 8)
#   SYNC_BENCH_SYSTEMS  comma list of pymigrate,trigger,native,pglogical (default all)
here=$(dirname "$0")
exec "$here/../lib/with-clusters.sh" "$here/sync_bench.py" provider subscriber
