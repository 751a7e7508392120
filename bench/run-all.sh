#!/usr/bin/env bash
# `make bench`: runs every benchmark under bench/<name>/run.sh, one after
# the other (they compete for the same two cores otherwise). Each prints
# its own table: pymigrate against real peers measured in the same run, as
# medians and ratios. BENCH=name1,name2 runs only those.
set -uo pipefail
top="${PYMIGRATE_TOP:?run through make}"
shopt -s nullglob
benches=("$top"/bench/*/run.sh)
if ((${#benches[@]} == 0)); then
    echo "make bench: no benchmarks yet (each capability adds bench/<name>/run.sh)"
    exit 0
fi
echo "make bench on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u +%Y-%m-%dT%H:%MZ)"
failed=()
for b in "${benches[@]}"; do
    name=$(basename "$(dirname "$b")")
    if [[ -n "${BENCH:-}" && ",$BENCH," != *",$name,"* ]]; then continue; fi
    echo; echo "=== bench: $name ==="
    "$b" || failed+=("$name")
done
if ((${#failed[@]})); then echo "benchmarks that failed to run: ${failed[*]}"; exit 1; fi
