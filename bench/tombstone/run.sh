#!/usr/bin/env bash
# bench/tombstone: what recording deletes costs the application. Every local
# table of a subscription has pymigrate's tombstone trigger (a statement
# trigger with the deleted rows, writing pymigrate.tombstone as its owner);
# the peer is the same table and workload with that trigger disabled,
# measured in the same run on the same cluster, interleaved:
#
#   pgbench, 4 clients: a transaction deletes one random row and inserts it
#   again (the pattern tombstones exist for), BENCH_SECONDS (default 5) x
#   BENCH_REPEATS (default 5) per configuration, in alternating order; and
#   one statement deleting 100,000 rows (then put back), timed: once with
#   no key deleted before, once again at once (every key has a tombstone).
#
# Prints medians and the ratio with / without the trigger.
set -euo pipefail
top="${PYMIGRATE_TOP:?run through make bench}"
build="${PYMIGRATE_BUILD:?run through make bench}"
export PYMIGRATE_PGBIN="${PYMIGRATE_PGBIN:?run through make bench}"
here="$top/bench/tombstone"

if [[ "${1:-}" != inner ]]; then
    exec "$build/cmake/test/harness/pm-cluster" run -c node -- "$here/run.sh" inner
fi

seconds="${BENCH_SECONDS:-5}"
repeats="${BENCH_REPEATS:-5}"
rows=100000
pgbench="$PM_PGBIN/pgbench"
psql() { "$PM_PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "$PM_NODE_DSN" "$@"; }
work="$PM_NODE_DIR/bench-tombstone"
mkdir -p "$work"

echo "setting up: table t ($rows rows), a subscription of it (its tombstone trigger; no provider: never enabled)"
psql <<SQL >/dev/null
CREATE EXTENSION pymigrate;
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, $rows) g;
SELECT pymigrate.create_subscription('bench', 'host=/nonexistent', '{t}', copy_data => false, connect => false,
                                     enabled => false);
VACUUM ANALYZE t;
SQL
[[ $(psql -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'pymigrate_tombstone'") == 1 ]] ||
    { echo "the subscription did not create the tombstone trigger"; exit 1; }

# Each client its own keys: two clients deleting and inserting one key at
# once would make the second insert fail (the first re-inserted it).
cat >"$work/delete_insert.sql" <<SQL
\set id :client_id * $((rows / 4)) + random(1, $((rows / 4)))
BEGIN;
DELETE FROM t WHERE id = :id;
INSERT INTO t VALUES (:id, 'again');
END;
SQL

declare -A tps bulk
trigger() { psql -c "ALTER TABLE t $1 TRIGGER pymigrate_tombstone" >/dev/null; }
run() { # with|without
    [[ $1 == with ]] && trigger ENABLE || trigger DISABLE
    psql -c "TRUNCATE pymigrate.tombstone" >/dev/null
    local t
    t=$("$pgbench" -n -c 4 -j 2 -T "$seconds" -f "$work/delete_insert.sql" "$PM_NODE_DSN" 2>&1 |
        awk '/^tps = / {print $3}')
    tps[$1]+="$t "
    # One statement deleting every row, timed in the server, then put back:
    # first with no key deleted before (the table's only tombstone is of
    # another key: the usual case, trimming keeps a few seconds' worth), then
    # again at once (every key has a tombstone to replace: a key deleted
    # twice within the trim window).
    psql -c "TRUNCATE pymigrate.tombstone" -c "DELETE FROM t WHERE id = 1" -c "INSERT INTO t VALUES (1, 'row 1')" >/dev/null
    local ms
    for pass in first again; do
        ms=$(psql <<SQL | tail -1
SELECT clock_timestamp() AS t0 \gset
DELETE FROM t;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000, 1);
SQL
)
        [[ $1 == with ]] && tombstones=$(psql -c "SELECT count(*) FROM pymigrate.tombstone")
        psql -c "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, $rows) g" >/dev/null
        bulk[$1-$pass]+="$ms "
    done
}
tombstones=0
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "pgbench delete + insert of one row, 4 clients, ${seconds}s x $repeats rounds, alternating; DELETE of $rows rows"
for round in $(seq "$repeats"); do
    if ((round % 2)); then run with; run without; else run without; run with; fi
done
trigger ENABLE
w=$(median "${tps[with]}")
wo=$(median "${tps[without]}")
echo
printf "%-58s %12s %12s %8s\n" "" "with trigger" "without" "ratio"
printf "%-58s %12.0f %12.0f %8.3f\n" "delete + insert of one row (TPS)" "$w" "$wo" "$(awk -v a="$w" -v b="$wo" 'BEGIN {print a / b}')"
for pass in first again; do
    bw=$(median "${bulk[with-$pass]}")
    bwo=$(median "${bulk[without-$pass]}")
    [[ $pass == first ]] && what="DELETE of $rows rows in one statement (ms)" ||
        what="the same, every key deleted before (ms)"
    printf "%-58s %12.1f %12.1f %8.3f\n" "$what" "$bw" "$bwo" "$(awk -v a="$bw" -v b="$bwo" 'BEGIN {print a / b}')"
done
echo "(rounds, TPS with: ${tps[with]}; without: ${tps[without]}; tombstones recorded by the last bulk delete: $tombstones)"
