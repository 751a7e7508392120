#!/usr/bin/env bash
# The migration story, run by demo.sh with PM_MONOLITH_* and PM_SERVICE_*
# pointing at two live clusters. Each step checks its own result: the demo
# exits 0 only when every step did what it says.
#
# DEMO_QUICK=1 (the end-to-end test) runs the same steps with shorter
# workloads; DEMO_SCALE sets the sample's size; DEMO_OUT is where the files
# the demo writes go (analysis, SVG, generated service; default build/demo).
set -euo pipefail
top="${PYMIGRATE_TOP:?}"
build="${PYMIGRATE_BUILD:?}"
scale="${DEMO_SCALE:-1}"
quick="${DEMO_QUICK:-0}"
pymigrate="${PYMIGRATE_CLI:-$build/cmake/cli/pymigrate}"
shim="${PYMIGRATE_SHIM:-$build/cmake/shim/libpymigrate.so}"
pgbin="${PM_PGBIN:-}"
pm_cluster="$build/cmake/test/harness/pm-cluster"
source "$top/demo/ui.sh"

export PYMIGRATE_MONOLITH="$PM_MONOLITH_DSN" PYMIGRATE_SERVICE="$PM_SERVICE_DSN"
psql_m=(psql -X -q -At -v ON_ERROR_STOP=1 -d "$PM_MONOLITH_DSN")
psql_s=(psql -X -q -At -v ON_ERROR_STOP=1 -d "$PM_SERVICE_DSN")
pgbench=(pgbench)
[[ -n "$pgbin" ]] && { psql_m[0]="$pgbin/psql"; psql_s[0]="$pgbin/psql"; pgbench[0]="$pgbin/pgbench"; }

out="${DEMO_OUT:-$build/demo}"
rm -rf "$out" && mkdir -p "$out"
# Whatever the story started in the background ends with it, also on Ctrl-C
# (pm-cluster then stops both clusters).
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local jobs_left
    jobs_left=$(jobs -p)
    [[ -n "$jobs_left" ]] && kill $jobs_left 2>/dev/null && wait 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo interrupted"; exit 130' INT TERM

if ((quick)); then app_seconds=4 ramp_every=3s hold=12s; else app_seconds=10 ramp_every=6s hold=20s; fi
tickets=$((1500 * scale)) agents=25 products=$((1500 * scale)) orders=$((8000 * scale))
support_tables=(agents support_tickets ticket_messages)
t0=$SECONDS

echo "${bold}pymigrate demo${reset}: moving the support desk out of a shop's monolith"
echo "    monolith: $(sed 's/password=[^ ]*/password=***/' <<<"$PM_MONOLITH_DSN")"
echo "    service:  $(sed 's/password=[^ ]*/password=***/' <<<"$PM_SERVICE_DSN")"
echo "    files:    $out"

# ---------------------------------------------------------------------------
step "Install the extension in both databases"
"${psql_m[@]}" -c "CREATE EXTENSION pymigrate" -c "CREATE EXTENSION pg_stat_statements"
"${psql_s[@]}" -c "CREATE EXTENSION pymigrate"
show "$pymigrate" version
versions=$("$pymigrate" version --json)
grep -q '"monolith_extension": "[0-9]' <<<"$versions" || fail "extension missing on the monolith: $versions"
grep -q '"service_extension": "[0-9]' <<<"$versions" || fail "extension missing on the service: $versions"
ok "pymigrate extension installed on both sides"

# ---------------------------------------------------------------------------
step "Load the sample monolith (an online shop, scale $scale) and run its application"
with_progress "loading" "$top/sample/load.sh" "$PM_MONOLITH_DSN" "$scale" || fail "loading the sample monolith failed"
tables=$("${psql_m[@]}" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
rows=$("${psql_m[@]}" -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables WHERE schemaname = 'public'")
size=$("${psql_m[@]}" -c "SELECT pg_size_pretty(pg_database_size(current_database()))")
((tables >= 20)) || fail "the sample monolith has $tables tables"
say "$tables tables, about $rows rows, $size"
# The application's traffic: this is what pg_stat_statements shows the analyzer.
"${psql_m[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null
with_progress "the shop's application runs for ${app_seconds}s" \
    "${pgbench[@]}" -n -c 4 -j 2 -T "$app_seconds" -D tickets=$tickets -D agents=$agents -D products=$products \
    -D orders=$orders -f "$top/demo/workload/shop.sql@6" -f "$top/demo/workload/support.sql@3" \
    -f "$top/demo/workload/helpdesk_report.sql@1" "$PM_MONOLITH_DSN" >"$out/app-monolith.log" 2>&1 ||
    { cat "$out/app-monolith.log"; fail "the application workload failed"; }
app_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/app-monolith.log" | cut -d. -f1)
queries=$("${psql_m[@]}" -c "SELECT count(*) FROM pg_stat_statements WHERE query ~* 'support_tickets|orders|products'")
((queries >= 5)) || fail "pg_stat_statements recorded $queries of the application's queries"
ok "$tables tables loaded; the application ran at $app_tps transactions/s ($queries distinct queries recorded)"

# ---------------------------------------------------------------------------
step "Analyze the monolith: where are the service boundaries, and what does each cut cost?"
show "$pymigrate" analyze --seed 1 -o "$out/analysis.json" --svg "$out/services.svg" ||
    fail "pymigrate analyze failed"
[[ -s "$out/services.svg" ]] && grep -q '<svg' "$out/services.svg" || fail "no SVG picture was written"
service=$(json_get 'next(s["name"] for s in d["services"] if "support_tickets" in [t if isinstance(t, str) else t.get("name") for t in s["tables"]])' <"$out/analysis.json") ||
    fail "no recommended service holds support_tickets"
service_tables=$(json_get "','.join(t if isinstance(t, str) else t['name'] for s in d['services'] if s['name'] == '$service' for t in s['tables'])" <"$out/analysis.json")
for t in "${support_tables[@]}"; do
    [[ ",$service_tables," == *",$t,"* || ",$service_tables," == *",public.$t,"* ]] ||
        fail "the analysis put $t outside $service ($service_tables)"
done
ok "$(json_get 'len(d["services"])' <"$out/analysis.json") services recommended; $service = $service_tables; picture in $out/services.svg"

# ---------------------------------------------------------------------------
step "Generate $service: OpenAPI 3.0 spec and a FastAPI service, and start it"
show "$pymigrate" generate --from "$out/analysis.json" --name "$service" --out "$out/$service" ||
    fail "pymigrate generate failed"
for f in openapi.json openapi.yaml schema.sql; do [[ -s "$out/$service/$f" ]] || fail "generate wrote no $f"; done
paths=$(json_get 'len(d["paths"])' <"$out/$service/openapi.json")
api_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The generated service answers from the monolith for now (the same tables).
(cd "$out/$service" && DATABASE_URL="$PM_MONOLITH_DSN" exec /usr/bin/python3 -m uvicorn app.main:app \
    --host 127.0.0.1 --port "$api_port" --log-level warning) >"$out/api.log" 2>&1 &
api_pid=$!
api="http://127.0.0.1:$api_port"
wait_until 30 "starting the API" curl -fsS "$api/openapi.json" || { cat "$out/api.log"; fail "the generated service did not start"; }
say "GET $api/support_tickets?limit=2&order=id.asc"
listed=$(curl -fsS "$api/support_tickets?limit=2&order=id.asc") || fail "listing support tickets failed"
/usr/bin/python3 -c 'import json,sys; [print("      ", json.dumps({k: r[k] for k in ("id", "subject", "status")})) for r in json.loads(sys.argv[1])]' "$listed" 2>/dev/null ||
    /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); rows=d.get("items") or d.get("data"); [print("      ", json.dumps({k: r[k] for k in ("id", "subject", "status")})) for r in rows]' "$listed"
one=$(curl -fsS "$api/support_tickets/1") || fail "GET /support_tickets/1 failed"
[[ "$(json_get 'd["id"]' <<<"$one")" == 1 ]] || fail "GET /support_tickets/1 answered $one"
kill "$api_pid"; wait "$api_pid" 2>/dev/null || true
ok "$paths API paths in $out/$service/openapi.yaml; the FastAPI service answered"

# ---------------------------------------------------------------------------
step "Create the service database and sync it with the monolith, both directions"
"${psql_s[@]}" -f "$out/$service/schema.sql" >/dev/null || fail "the generated schema did not apply to the service database"
show "$pymigrate" sync setup --tables "$(IFS=,; echo "${support_tables[*]}")" --name support --conflict last_write_wins ||
    fail "pymigrate sync setup failed"
for t in "${support_tables[@]}"; do
    m=$("${psql_m[@]}" -c "SELECT count(*) FROM $t") s=$("${psql_s[@]}" -c "SELECT count(*) FROM $t")
    [[ "$m" == "$s" ]] || fail "$t: $m rows in the monolith, $s in the service"
    synced=$((${synced:-0} + s))
done
show "$pymigrate" sync status --name support
ok "$synced rows copied; both directions streaming"

# ---------------------------------------------------------------------------
step "Shift the support desk's traffic to the service: 0 → 25 → 50 → 100 %, gated on health"
show "$pymigrate" route set "$service" --tables "$(IFS=,; echo "${support_tables[*]/#/public.}")" \
    --target-dsn "$PM_SERVICE_DSN" --percent 0 --reason "demo: start of the move" || fail "route set failed"
# The application, now with the shim preloaded into it: it still connects to
# the monolith; the shim sends the support desk's statements where the route says.
app_env=(env LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$PM_MONOLITH_DSN")
ramp_seconds=$((3 * ${ramp_every%s} + 8))
"${app_env[@]}" "${pgbench[@]}" -n -c 4 -j 2 -T "$ramp_seconds" -R 300 -D tickets=$tickets -D agents=$agents \
    -D products=$products -D orders=$orders -f "$top/demo/workload/support.sql@3" -f "$top/demo/workload/shop.sql@2" \
    "$PM_MONOLITH_DSN" >"$out/app-ramp.log" 2>&1 &
app_pid=$!
sleep 2
gates=(--every "$ramp_every" --max-error-rate 1% --max-p95 500ms --max-lag 5s --min-statements 10)
show "$pymigrate" route ramp "$service" --to 50 --step 25 "${gates[@]}" --reason "demo: first half" ||
    fail "the ramp did not reach 50 %"
show "$pymigrate" route ramp "$service" --to 100 --step 50 "${gates[@]}" --reason "demo: all of it" ||
    fail "the ramp did not reach 100 %"
wait "$app_pid" || { cat "$out/app-ramp.log"; fail "the application saw errors during the ramp"; }
grep -q "number of failed transactions: 0 " "$out/app-ramp.log" || { cat "$out/app-ramp.log"; fail "failed transactions during the ramp"; }
show "$pymigrate" route show "$service"
routed=$("$pymigrate" route show "$service" --json | json_get 'd["services"][0]["shims"]["statements"]' 2>/dev/null || echo 0)
svc_writes=$("${psql_s[@]}" -c "SELECT count(*) FROM ticket_messages WHERE body = 'Thanks, we are looking into it.'")
mono_writes=$("${psql_m[@]}" -c "SELECT count(*) FROM ticket_messages WHERE body = 'Thanks, we are looking into it.'")
((svc_writes > 0)) || fail "no application writes reached the service"
ok "ramp done: the service takes 100 % of the support desk; app messages: $mono_writes in the monolith, $svc_writes in the service (synced), 0 failed transactions"

# ---------------------------------------------------------------------------
step "A conflict on purpose: the same ticket edited in both databases at once"
last_conflict() { "$@" -c "SELECT coalesce(max(id), 0) FROM pymigrate.conflict_log"; }
ticket7_conflict() { # the outcome of the latest conflict on ticket 7 logged after id $1
    "${@:2}" -c "SELECT outcome FROM pymigrate.conflict_log WHERE id > $1 AND key = '{\"id\": 7}' ORDER BY id DESC LIMIT 1"
}
mono_seen=$(last_conflict "${psql_m[@]}") svc_seen=$(last_conflict "${psql_s[@]}")
"$pymigrate" sync pause --name support >/dev/null || fail "sync pause failed"
say "sync paused; ticket 7 edited in the monolith, then in the service; sync resumed"
"${psql_m[@]}" -c "UPDATE support_tickets SET subject = 'Refund not received (edited in the monolith)' WHERE id = 7"
sleep 0.2
"${psql_s[@]}" -c "UPDATE support_tickets SET subject = 'Refund not received (edited in the service)' WHERE id = 7"
"$pymigrate" sync resume --name support >/dev/null || fail "sync resume failed"
ticket7_settled() {
    [[ -n "$(ticket7_conflict "$mono_seen" "${psql_m[@]}")" && -n "$(ticket7_conflict "$svc_seen" "${psql_s[@]}")" &&
       "$("${psql_m[@]}" -c "SELECT subject FROM support_tickets WHERE id = 7")" == \
       "$("${psql_s[@]}" -c "SELECT subject FROM support_tickets WHERE id = 7")" ]]
}
wait_until 60 "waiting for both sides to apply" ticket7_settled ||
    fail "the two sides did not converge on ticket 7, or the conflict was not logged on both"
for side in monolith service; do
    dsn_var="PM_${side^^}_DSN"
    say "$side: pymigrate.conflict_log for ticket 7"
    show psql -X -d "${!dsn_var}" -c "SELECT kind, strategy, outcome, local_node, local_commit_ts::time(3) AS local_at, remote_node, remote_commit_ts::time(3) AS remote_at FROM pymigrate.conflict_log WHERE table_name = 'public.support_tickets' AND key = '{\"id\": 7}' ORDER BY id DESC LIMIT 1"
done
winner=$("${psql_m[@]}" -c "SELECT subject FROM support_tickets WHERE id = 7")
[[ "$winner" == *"edited in the service"* ]] || fail "last write wins should keep the service's later edit, both sides have: $winner"
[[ "$(ticket7_conflict "$mono_seen" "${psql_m[@]}")" == apply_remote &&
   "$(ticket7_conflict "$svc_seen" "${psql_s[@]}")" == keep_local ]] ||
    fail "the conflict on ticket 7 was not resolved as last write wins on both sides"
conflicts=$(( $("${psql_m[@]}" -c "SELECT count(*) FROM pymigrate.conflict_log") + $("${psql_s[@]}" -c "SELECT count(*) FROM pymigrate.conflict_log") ))
# Origin-based detection also reports each ticket that changed hands during
# the ramp (last written in one database, next in the other) as
# update_origin_differs; last write wins resolves those the same way.
say "all conflicts so far, per side and kind:"
show psql -X -d "$PM_MONOLITH_DSN" -c "SELECT 'monolith' AS side, table_name, kind, conflicts, apply_remote, keep_local FROM pymigrate.conflict_summary"
show psql -X -d "$PM_SERVICE_DSN" -c "SELECT 'service' AS side, table_name, kind, conflicts, apply_remote, keep_local FROM pymigrate.conflict_summary"
ok "both databases keep the later edit ('$winner'); $conflicts conflict(s) logged"

# ---------------------------------------------------------------------------
step "Validate: do the two databases agree, row for row?"
validate_args=()
for t in "${support_tables[@]}"; do validate_args+=(-t "$t"); done
show "$pymigrate" validate "${validate_args[@]}" || fail "the databases differ after sync"
say "breaking one row in the service behind sync's back..."
"${psql_s[@]}" -c "SELECT pg_replication_origin_create('demo_tamper')" \
    -c "SELECT pg_replication_origin_session_setup('demo_tamper')" \
    -c "UPDATE ticket_messages SET body = 'tampered' WHERE id = 42" >/dev/null
rc=0
show "$pymigrate" validate "${validate_args[@]}" --json >"$out/validate-broken.json" || rc=$?
((rc == 3)) || fail "validate should exit 3 when it finds a difference (exit $rc)"
run=$(json_get 'd["run"]' <"$out/validate-broken.json")
show "$pymigrate" validate --run "$run" || (($? == 3)) || fail "validate --run $run failed"
found=$(json_get 'sum(t.get("changed", 0) for t in d["tables"])' <"$out/validate-broken.json")
((found == 1)) || fail "validate should find exactly the one changed row, found $found"
show "$pymigrate" validate --run "$run" --reconcile monolith-to-service --apply || fail "reconcile failed"
show "$pymigrate" validate "${validate_args[@]}" || fail "still different after reconcile"
ok "found the broken row (ticket_messages id 42), repaired it; 100 % consistent"

# ---------------------------------------------------------------------------
step "Trip a health gate: the service database goes down under load"
"${app_env[@]}" "${pgbench[@]}" -n -c 4 -j 2 -T $((${hold%s} + 4)) -R 300 -D tickets=$tickets -D agents=$agents \
    -f "$top/demo/workload/support.sql" "$PM_MONOLITH_DSN" >"$out/app-outage.log" 2>&1 &
app_pid=$!
# The gate watcher's lines appear as they happen.
"$pymigrate" route ramp "$service" --to 100 --hold "$hold" --max-error-rate 1% --min-statements 5 \
    --reason "demo: watching" > >(sed -u 's/^/      /') 2>&1 &
watch_pid=$!
sleep 3
say "stopping the service database (pg_ctl stop -m fast)..."
"$pm_cluster" stop "$PM_SERVICE_DIR" >/dev/null
rc=0
wait "$watch_pid" || rc=$?
((rc == 3)) || fail "the gate watcher should roll back and exit 3 (exit $rc)"
wait "$app_pid" || { cat "$out/app-outage.log"; fail "the application saw errors during the outage"; }
grep -q "number of failed transactions: 0 " "$out/app-outage.log" || { cat "$out/app-outage.log"; fail "failed transactions during the outage"; }
[[ "$("${psql_m[@]}" -c "SELECT enabled FROM pymigrate.route WHERE service = '$service'")" == f ]] || fail "the route is still enabled"
outage_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out/app-outage.log")
say "restarting the service database; sync catches up"
"$pm_cluster" start "$PM_SERVICE_DIR" >/dev/null
ok "rolled back to the monolith automatically; $outage_tx application transactions, 0 failed"

# ---------------------------------------------------------------------------
step "After the outage: sync catches up and the databases agree again"
both_streaming() {
    "$pymigrate" sync status --name support --json |
        json_get 'exit(0 if all(s["state"] == "streaming" for s in d["directions"]) else 1)'
}
wait_until 120 "waiting for sync to stream again" both_streaming ||
    { show "$pymigrate" sync status --name support; fail "sync did not resume after the service came back"; }
show "$pymigrate" validate "${validate_args[@]}" || fail "the databases differ after the outage"
ok "consistent again"

# ---------------------------------------------------------------------------
step "Summary"
show "$pymigrate" route history "$service" --limit 8
say "time per step:"
printf '      %s\n' "${step_times[@]}"
say "rows copied: $synced; conflicts: $conflicts; application transactions during the outage: $outage_tx, 0 failed"
say "files: analysis $out/analysis.json, picture $out/services.svg, service $out/$service"
say "total time: $((SECONDS - t0))s"
ok "summary printed"
echo
echo "${green}${bold}demo finished: every step checked${reset}"
