#!/usr/bin/env bash
# Consistency validation benchmark: pymigrate.validate() against
# pg_comparator (with its pgcmp C checksum functions, as its documentation
# recommends) and a naive sorted export + diff, on the sample monolith's
# order_items table at 1M and 10M rows, identical and with 1,000 scattered
# differences (updates, deletes, inserts) on the service side. Every tool's
# findings are checked against the known differences.
#
#   bench/validate/run.sh                   (make bench runs it)
#   BENCH_VALIDATE_SIZES="1000000" BENCH_VALIDATE_REPEATS=5 bench/validate/run.sh
#   BENCH_VALIDATE_PERF=1 ...               also profiles one pymigrate run per case (perf)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="${PYMIGRATE_TOP:-$(cd "$here/../.." && pwd)}"
build="${PYMIGRATE_BUILD:-$top/build}"

if [[ -z "${PM_MONO_DSN:-}" ]]; then
    # Two throwaway servers, tuned alike for every tool.
    settings="shared_buffers=1GB,work_mem=64MB,max_wal_size=4GB,checkpoint_timeout=30min"
    exec "$build/cmake/test/harness/pm-cluster" run -c "mono:$settings" -c "svc:$settings" -- "$0" "$@"
fi

sizes=(${BENCH_VALIDATE_SIZES:-1000000 10000000})
repeats=${BENCH_VALIDATE_REPEATS:-3}
psql_bin="${PYMIGRATE_PGBIN:-/usr/lib/postgresql/15/bin}/psql"
mono=(env PGAPPNAME=bench "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$PM_MONO_DSN")
svc=(env PGAPPNAME=bench "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$PM_SVC_DSN")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cols="order_id,variant_id,quantity,unit_price"
svc_dsn_literal="'${PM_SVC_DSN//\'/\'\'}'"
url() { echo "pgsql://postgres@127.0.0.1:$1/postgres/public.order_items?id:$cols"; }

now() { date +%s.%N; }
calc() { awk "BEGIN {print $1}"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

"${mono[@]}" -c "CREATE EXTENSION pymigrate; CREATE EXTENSION pgcmp"
"${svc[@]}" -c "CREATE EXTENSION pymigrate; CREATE EXTENSION pgcmp"

# Each tool prints what it found as "id kind" lines (kind: missing = only in
# the monolith, extra = only in the service, changed), sorted.
run_pymigrate() { # extra validate() arguments
    local run
    run=$("${mono[@]}" -At -c "SELECT pymigrate.validate(ARRAY['order_items'], $svc_dsn_literal, recheck => false $1)")
    "${mono[@]}" -At -F' ' -c "SELECT key->>0, kind FROM pymigrate.discrepancy WHERE run_id = $run" | sort
}
run_pg_comparator() {
    { pg_comparator "$(url "$PM_MONO_PORT")" "$(url "$PM_SVC_PORT")" || true; } |
        awk '$1 == "INSERT" {print $2, "missing"} $1 == "DELETE" {print $2, "extra"} $1 == "UPDATE" {print $2, "changed"}' |
        sort
}
run_naive() {
    local q="COPY (SELECT * FROM order_items ORDER BY id) TO STDOUT"
    diff <("${mono[@]}" -c "$q") <("${svc[@]}" -c "$q") |
        awk '/^</ {l[$2] = 1} /^>/ {r[$2] = 1}
             END {for (k in l) print k, (k in r) ? "changed" : "missing"; for (k in r) if (!(k in l)) print k, "extra"}' |
        sort || true
}

results="$work/results"
: >"$results"
measure() { # size case tool command...
    local size=$1 case=$2 tool=$3
    shift 3
    local times=() ok=yes
    for ((r = 0; r < repeats; r++)); do
        local t0 t1
        t0=$(now)
        "$@" >"$work/found"
        t1=$(now)
        times+=("$(calc "$t1 - $t0")")
        cmp -s "$work/found" "$work/truth" || ok="NO ($(wc -l <"$work/found") reported, $(wc -l <"$work/truth") true)"
    done
    echo "$size $case $tool $(printf '%s\n' "${times[@]}" | median) ${ok// /_}" >>"$results"
}

profile() { # size case: perf of the monolith's backends during one validate()
    [[ "${BENCH_VALIDATE_PERF:-0}" == 1 ]] && command -v perf >/dev/null || return 0
    local data="$work/perf-$1-$2.data"
    perf record -q -o "$data" -a -- "${mono[@]}" -c "SELECT pymigrate.validate(ARRAY['order_items'], $svc_dsn_literal, recheck => false)" >/dev/null 2>&1 || return 0
    echo "--- perf, $1 rows, $2: top symbols of both servers' backends (all CPUs)"
    perf report -q -i "$data" --sort symbol --comm postgres 2>/dev/null | grep -v '^$' | head -12 |
        sed 's/ \{2,\}/  /g' || true
}

for size in "${sizes[@]}"; do
    echo "loading order_items with $size rows on both servers ..." >&2
    t0=$(now)
    "${mono[@]}" -v rows="$size" -f "$here/order_items.sql" >/dev/null &
    "${svc[@]}" -v rows="$size" -f "$here/order_items.sql" >/dev/null
    wait
    echo "  loaded in $(printf '%.0f' "$(calc "$(now) - $t0")") s" >&2

    # Digest alone: a direct scan in the backend against parallel workers.
    for p in 0 NULL; do
        t0=$(now)
        for ((r = 0; r < repeats; r++)); do
            "${mono[@]}" -c "SELECT count(*) FROM pymigrate.table_digest('order_items', parallel => $p)" >/dev/null
        done
        echo "$size digest parallel=$p $(calc "($(now) - $t0) / $repeats")" >>"$work/digest"
    done

    : >"$work/truth"
    measure "$size" identical pymigrate run_pymigrate ""
    measure "$size" identical pymigrate_direct run_pymigrate ", parallel => 0"
    measure "$size" identical pg_comparator run_pg_comparator
    measure "$size" identical naive_export_diff run_naive
    profile "$size" identical

    # 1,000 differences spread over the table: 334 updates, 333 deletes
    # (rows only in the monolith), 333 inserts (rows only in the service).
    step=$((size / 667))
    "${svc[@]}" <<SQL
UPDATE order_items SET quantity = quantity + 1 WHERE id IN (SELECT 1 + k * $step FROM generate_series(0, 666, 2) k);
DELETE FROM order_items WHERE id IN (SELECT 1 + k * $step FROM generate_series(1, 665, 2) k);
INSERT INTO order_items SELECT $size + 1 + k * 7, 1, 1, 1, 9.99 FROM generate_series(0, 332) k;
VACUUM (ANALYZE, FREEZE) order_items;
SQL
    {
        for ((k = 0; k <= 666; k += 2)); do echo "$((1 + k * step)) changed"; done
        for ((k = 1; k <= 665; k += 2)); do echo "$((1 + k * step)) missing"; done
        for ((k = 0; k <= 332; k++)); do echo "$((size + 1 + k * 7)) extra"; done
    } | sort >"$work/truth"
    measure "$size" diff1000 pymigrate run_pymigrate ""
    measure "$size" diff1000 pymigrate_direct run_pymigrate ", parallel => 0"
    measure "$size" diff1000 pg_comparator run_pg_comparator
    measure "$size" diff1000 naive_export_diff run_naive
    profile "$size" diff1000

    "${mono[@]}" -c "SET client_min_messages = warning; DROP TABLE order_items; TRUNCATE pymigrate.validation_run CASCADE; CHECKPOINT"
    "${svc[@]}" -c "DROP TABLE order_items; CHECKPOINT"
done

echo
echo "Consistency validation: order_items (the sample monolith's shape: bigint key, 4 columns), two local"
echo "PostgreSQL 15 servers, median of $repeats runs, wall clock of the whole comparison; 'found' checks every"
echo "reported difference against the 1,000 made (334 changed, 333 missing, 333 extra), nothing else."
echo "pymigrate: validate(recheck => false) -- a live re-check waits for sync to apply what is in flight;"
echo "pymigrate_direct: the same with parallel => 0 (no parallel workers on either side)."
echo
printf '%-9s %-10s %-18s %9s %13s %9s  %s\n' rows case tool seconds rows/s vs_pymig found
while read -r size case tool secs ok; do
    base=$(awk -v s="$size" -v c="$case" '$1 == s && $2 == c && $3 == "pymigrate" {print $4}' "$results")
    printf '%-9s %-10s %-18s %9.3f %13.0f %8.1fx  %s\n' "$size" "$case" "$tool" "$secs" \
        "$(calc "$size / $secs")" "$(calc "$secs / $base")" "${ok//_/ }"
done <"$results"
echo
echo "pymigrate.table_digest alone on the monolith (mean of $repeats):"
while read -r size _ p secs; do
    printf '  %-9s %-16s %7.3f s  %12.0f rows/s\n' "$size" "$p" "$secs" "$(calc "$size / $secs")"
done <"$work/digest"
