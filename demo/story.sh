#!/usr/bin/env bash
# The migration story, run by demo.sh with PM_MONOLITH_* and PM_SERVICE_*
# pointing at two live clusters. Each step checks its own result: the demo
# exits 0 only when every step did what it says.
set -euo pipefail
top="${PYMIGRATE_TOP:?}"
build="${PYMIGRATE_BUILD:?}"
scale="${DEMO_SCALE:-1}"
pymigrate="$build/cmake/cli/pymigrate"
export PYMIGRATE_MONOLITH="$PM_MONOLITH_DSN" PYMIGRATE_SERVICE="$PM_SERVICE_DSN"
psql_m=(psql -X -q -At -v ON_ERROR_STOP=1 -d "$PM_MONOLITH_DSN")
psql_s=(psql -X -q -At -v ON_ERROR_STOP=1 -d "$PM_SERVICE_DSN")

bold=$'\e[1m'; green=$'\e[32m'; red=$'\e[31m'; reset=$'\e[0m'
[[ -t 1 ]] || { bold=; green=; red=; reset=; }
step_no=0
step() { step_no=$((step_no + 1)); step_t0=$SECONDS; echo; echo "${bold}[$step_no] $*${reset}"; }
ok() { echo "    ${green}✓${reset} $* ($((SECONDS - step_t0))s)"; }
fail() { echo "    ${red}✗ $*${reset}" >&2; exit 1; }
t0=$SECONDS

echo "${bold}pymigrate demo${reset}: monolith on port $PM_MONOLITH_PORT, service on port $PM_SERVICE_PORT"

step "Install the extension in both databases"
for side in monolith service; do
    dsn_var="PM_${side^^}_DSN"
    psql -X -q -v ON_ERROR_STOP=1 -d "${!dsn_var}" -c "CREATE EXTENSION pymigrate" >/dev/null
done
"$pymigrate" version
versions=$("$pymigrate" version --json)
grep -q '"monolith_extension": "[0-9]' <<<"$versions" || fail "extension missing on the monolith: $versions"
grep -q '"service_extension": "[0-9]' <<<"$versions" || fail "extension missing on the service: $versions"
ok "pymigrate extension installed on both sides"

step "Load the sample monolith (an online shop, scale $scale)"
"$top/sample/load.sh" "$PM_MONOLITH_DSN" "$scale" &
loader=$!
while kill -0 "$loader" 2>/dev/null; do
    printf '\r    loading... %ds' $((SECONDS - step_t0)); sleep 1
done
wait "$loader" || fail "loading the sample monolith failed"
printf '\r'
tables=$("${psql_m[@]}" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
fks=$("${psql_m[@]}" -c "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace")
rows=$("${psql_m[@]}" -c "SELECT sum(c) FROM (SELECT (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint AS c FROM pg_tables WHERE schemaname = 'public') t")
size=$("${psql_m[@]}" -c "SELECT pg_size_pretty(pg_database_size(current_database()))")
((tables >= 20 && rows > 0)) || fail "sample monolith has $tables tables and $rows rows"
ok "$tables tables, $fks foreign keys, $rows rows, $size"

step "Summary"
echo "    monolith: $tables tables, $rows rows; service: empty, extension $("${psql_s[@]}" -c "SELECT pymigrate.version()")"
echo "    total time: $((SECONDS - t0))s"
echo
echo "${green}${bold}demo finished: every step checked${reset}"
