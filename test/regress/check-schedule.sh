#!/usr/bin/env bash
# A regression test missing from the schedule never runs: make that an error
# (after pg_duckdb's scripts/schedule-check.sh). Also the reverse.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
scheduled=$(sed -n 's/^test: *//p' "$dir/schedule" | tr ' ' '\n' | sed '/^$/d' | sort)
present=$(cd "$dir/sql" && ls *.sql | sed 's/\.sql$//' | sort)
missing=$(comm -13 <(echo "$scheduled") <(echo "$present"))
phantom=$(comm -23 <(echo "$scheduled") <(echo "$present"))
[[ -z "$missing" ]] || { echo "regress: tests not in test/regress/schedule: $missing" >&2; exit 1; }
[[ -z "$phantom" ]] || { echo "regress: scheduled tests with no sql file: $phantom" >&2; exit 1; }
for t in $present; do
    [[ -f "$dir/expected/$t.out" ]] || { echo "regress: no expected/$t.out" >&2; exit 1; }
done
