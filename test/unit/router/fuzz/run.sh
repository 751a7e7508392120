#!/usr/bin/env bash
# Runs each router fuzz target for a bounded time (FUZZ_SECONDS, default 20)
# from a copy of its seed corpus, in the build directory. Non-zero on any crash.
set -euo pipefail
bin="$1"; seeds="$2"; work="$3"; seconds="${FUZZ_SECONDS:-20}"
rm -rf "$work" && mkdir -p "$work"
status=0
for target in route_file:route sqlcommenter:tag; do
    name=${target%%:*}; seed=${target##*:}
    mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
    cp "$seeds/$seed"/* "$work/$name/corpus/"
    echo "fuzz_$name for ${seconds}s"
    if ! "$bin/fuzz_$name" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$work/$name/artifacts/" "$work/$name/corpus" \
        >"$work/$name/log" 2>&1; then
        echo "fuzz_$name FAILED:"; tail -40 "$work/$name/log"; status=1
    else
        grep -E "stat::number_of_executed_units|Done" "$work/$name/log" | tail -2
    fi
done
exit $status
