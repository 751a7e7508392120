#!/usr/bin/env bash
# bench/router: what the shim costs an application, against direct libpq and
# against pgbouncer (a proxy: one more hop), measured in the same run on two
# throwaway clusters; then the router's own per-statement work
# (Google Benchmark) and how fast a rollback reaches a running application.
#
#   pgbench -S (select only, simple protocol), 4 clients, 2 threads, each
#   configuration BENCH_SECONDS (default 5) x BENCH_REPEATS (default 5),
#   interleaved (in reverse order every other round, so a load that drifts
#   during a round favours no one); medians and ratios to direct libpq.
#
#   At 50 % the shim spreads the statements over two servers, so it is also
#   compared with the same work done on two servers without it ("direct
#   split": half the clients connected straight to each server, the two
#   pgbench runs at once, their TPS added): what the second server costs or
#   gains on this machine is not the shim's.
#
#   A non-sticky route sends each statement of a connection to either server,
#   so each of its two backends sleeps while the other works. That costs the
#   servers CPU whoever does it, so the fair baseline at 50 % is the same
#   spreading without the shim: bench_router_alternate (alternate.cpp), a
#   pgbench -S-like libpq client, with two connections per client drawing
#   one per statement, against the same client with one connection through
#   the shim; and for a sticky route (one key per connection), the client
#   with each connection on one server against the shim routing exactly the
#   odd clients (canary keys from a route_key tag).
set -euo pipefail
top="${PYMIGRATE_TOP:?run through make bench}"
build="${PYMIGRATE_BUILD:?run through make bench}"
export PYMIGRATE_PGBIN="${PYMIGRATE_PGBIN:?run through make bench}"
here="$top/bench/router"

if [[ "${1:-}" != inner ]]; then
    exec "$build/cmake/test/harness/pm-cluster" run -c monolith -c service -- "$here/run.sh" inner
fi

seconds="${BENCH_SECONDS:-5}"
repeats="${BENCH_REPEATS:-5}"
clients=4
shim="$build/cmake/shim/libpymigrate.so"
probe="$build/cmake/test/integration/router/router_libpq_probe"
micro="$build/cmake/router/bench_router_micro"
alternate="$build/cmake/router/bench_router_alternate"
pgbench="$PM_PGBIN/pgbench"
psql="$PM_PGBIN/psql"
M="$PM_MONOLITH_DSN"
S="$PM_SERVICE_DSN"
work="$PM_MONOLITH_DIR/bench-router"
mkdir -p "$work"

echo "setting up: pgbench -i -s 1 on both clusters, the pymigrate extension and a route on the monolith"
for side in monolith service; do
    dsn=$M; [[ $side == service ]] && dsn=$S
    "$pgbench" -i -q -s 1 "$dsn" >/dev/null 2>&1
    "$psql" -X -q -d "$dsn" -c "CREATE TABLE probe (which text)" -c "INSERT INTO probe VALUES ('$side')"
done
"$psql" -X -q -d "$M" -c "CREATE EXTENSION pymigrate"
sql() { "$psql" -X -qAt -d "$M" -v service_dsn="$S" -v ON_ERROR_STOP=1 >/dev/null; }
route() { # percent [canary keys, as a JSON array: a sticky canary route at 0 % plus those keys]
    local strategy=percentage sticky=false keys='[]'
    [[ -n "${2:-}" ]] && { strategy=canary; sticky=true; keys=$2; }
    sql <<SQL
SELECT pymigrate.route_set(jsonb_build_object('name', 'bank', 'tables',
    jsonb_build_array('public.pgbench_accounts', 'public.pgbench_branches', 'public.pgbench_tellers',
                      'public.pgbench_history'),
    'dsn', :'service_dsn', 'percent', $1, 'sticky', $sticky, 'strategy', '$strategy',
    'canary_keys', '$keys'::jsonb, 'enabled', true));
SQL
}
route 0

# pgbouncer, as the postgres user, in the harness's directory, session pooling
# (a plain proxy: the fairest comparison for a per-statement router).
bouncer_dir="$PM_MONOLITH_DIR/pgbouncer"
mkdir -p "$bouncer_dir"
bouncer_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$bouncer_dir/pgbouncer.ini" <<INI
[databases]
postgres = host=$PM_MONOLITH_HOST port=$PM_MONOLITH_PORT dbname=postgres
[pgbouncer]
listen_addr =
listen_port = $bouncer_port
unix_socket_dir = $bouncer_dir
auth_type = trust
auth_file = $bouncer_dir/userlist.txt
pool_mode = session
default_pool_size = 20
max_client_conn = 100
logfile = $bouncer_dir/pgbouncer.log
pidfile = $bouncer_dir/pgbouncer.pid
INI
echo '"postgres" ""' >"$bouncer_dir/userlist.txt"
chown -R postgres: "$bouncer_dir"
runuser -u postgres -- /usr/sbin/pgbouncer -d -q "$bouncer_dir/pgbouncer.ini"
stop_bouncer() { [[ -f "$bouncer_dir/pgbouncer.pid" ]] && kill "$(cat "$bouncer_dir/pgbouncer.pid")" 2>/dev/null || true; }
trap stop_bouncer EXIT
for _ in $(seq 50); do [[ -S "$bouncer_dir/.s.PGSQL.$bouncer_port" ]] && break; sleep 0.1; done
bouncer_dsn="host=$bouncer_dir port=$bouncer_port user=postgres dbname=postgres"

declare -A tps lat
declare -A client_us server_us
# CPU time (clock ticks) of both servers: each postmaster with the backends
# it reaped, plus its live children. Differences over a run are the servers'
# work for it (pgbouncer's pooled server connections stay alive: counted live).
tick=$(getconf CLK_TCK)
server_ticks() {
    local total=0 dir pm kid a b c d
    for dir in "$PM_MONOLITH_DIR" "$PM_SERVICE_DIR"; do
        pm=$(head -1 "$dir/data/postmaster.pid")
        read -r a b c d < <(awk '{print $14, $15, $16, $17}' "/proc/$pm/stat")
        total=$((total + a + b + c + d))
        for kid in $(cat "/proc/$pm/task/$pm/children"); do
            read -r a b < <(awk '{print $14, $15}' "/proc/$kid/stat" 2>/dev/null || echo 0 0)
            total=$((total + a + b))
        done
    done
    echo "$total"
}
# Runs a command (pgbench, or two of them) and records TPS, latency, and the
# CPU per transaction of the client (pgbench with the shim in it, from
# getrusage via bash's `time`) and of the servers.
measure() { # name, command...
    local name=$1; shift
    local out="$work/$name.out" cpu="$work/$name.cpu" s0 s1 tx t
    s0=$(server_ticks)
    TIMEFORMAT='%U %S'
    { time "$@" >"$out" 2>&1; } 2>"$cpu" || { echo "$name failed: $(cat "$out")"; exit 1; }
    sleep 0.2 # the backends exit and are reaped
    s1=$(server_ticks)
    tx=$(awk '/^number of transactions actually processed:/ {split($6, a, "/"); n += a[1]} END {print n}' "$out")
    t=$(awk '/^tps = / {s += $3} END {print s}' "$out")
    tps[$name]+="$t "
    # Little's law over the whole run: clients / throughput.
    lat[$name]+="$(awk -v c="$clients" -v t="$t" 'BEGIN {print c * 1000 / t}') "
    client_us[$name]+="$(awk -v tx="$tx" '{print ($1 + $2) * 1e6 / tx}' "$cpu") "
    server_us[$name]+="$(awk -v tx="$tx" -v d=$((s1 - s0)) -v hz="$tick" 'BEGIN {print d / hz * 1e6 / tx}') "
}
run() { # name, dsn, env...
    local name=$1 dsn=$2; shift 2
    measure "$name" env "$@" "$pgbench" -n -S -c "$clients" -j 2 -T "$seconds" "$dsn"
}
# The same clients and threads as run(), half of them straight at each server.
split_pgbench() {
    "$pgbench" -n -S -c $((clients / 2)) -j 1 -T "$seconds" "$M" &
    "$pgbench" -n -S -c $((clients / 2)) -j 1 -T "$seconds" "$S" || return 1
    wait $!
}
run_split() { measure split split_pgbench; }
alt() { # name, env..., --: bench_router_alternate's options after the --
    local name=$1 envs=()
    shift
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    measure "$name" env "${envs[@]}" "$alternate" --clients "$clients" --threads 2 --seconds "$seconds" "$@"
}
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Each configuration is run right next to the one it is compared with, so
# the ratio of a pair within one round sees (nearly) the same load; the
# summary's ratios are medians of those per-round ratios, which a load that
# comes and goes between rounds moves far less than the medians of TPS.
configs=(direct shim0 passthrough pgbouncer split shim50 alt_spread alt_shim50 alt_sticky alt_shim_sticky)
echo "pgbench -S, $clients clients, ${seconds}s, $repeats rounds, interleaved"
one() {
    case $1 in
    direct) run direct "$M" ;;
    passthrough) run passthrough "$M" LD_PRELOAD="$shim" ;;
    shim0) route 0; run shim0 "$M" LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$M" ;;
    split) run_split ;;
    shim50) route 50; run shim50 "$M" LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$M"; route 0 ;;
    pgbouncer) run pgbouncer "$bouncer_dsn" ;;
    alt_spread) alt alt_spread -- --dsn "$M" --dsn "$S" --percent 50 ;;
    alt_shim50) route 50; alt alt_shim50 LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$M" -- --dsn "$M"; route 0 ;;
    alt_sticky) alt alt_sticky -- --dsn "$M" --dsn "$S" --sticky --tag ;;
    alt_shim_sticky)
        route 0 '["client-1", "client-3"]'
        alt alt_shim_sticky LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$M" -- --dsn "$M" --tag
        route 0 ;;
    esac
}
for round in $(seq "$repeats"); do
    order=("${configs[@]}")
    if ((round % 2 == 0)); then for i in "${!configs[@]}"; do order[i]=${configs[-1 - i]}; done; fi
    for c in "${order[@]}"; do one "$c"; done
    echo "  round $round done"
done

declare -A label=([direct]="direct libpq" [passthrough]="shim, not configured (pass-through)"
    [shim0]="shim, route at 0 %" [split]="direct split (2 servers, no shim)" [shim50]="shim, route at 50 % (2 servers)"
    [pgbouncer]="pgbouncer 1.18, session pool"
    [alt_spread]="libpq client: 2 conns, 50 % each stmt" [alt_shim50]="  same client, shim at 50 % per stmt"
    [alt_sticky]="libpq client: each conn on 1 server" [alt_shim_sticky]="  same client, shim 50 % sticky")
d_tps=$(median "${tps[direct]}")
d_lat=$(median "${lat[direct]}")
echo
printf "%-38s %9s %11s %10s %19s\n" configuration "TPS" "latency ms" "vs direct" "CPU µs/tx: client"
printf "%-38s %9s %11s %10s %19s %8s\n" "" "" "" "" "(client + shim)" servers
for c in "${configs[@]}"; do
    t=$(median "${tps[$c]}")
    l=$(median "${lat[$c]}")
    printf "%-38s %9.0f %11.3f %10.3f %19.1f %8.1f\n" "${label[$c]}" "$t" "$l" \
        "$(awk -v a="$t" -v b="$d_tps" 'BEGIN {print a / b}')" "$(median "${client_us[$c]}")" "$(median "${server_us[$c]}")"
done
s0=$(median "${tps[shim0]}")
s50=$(median "${tps[shim50]}")
sp=$(median "${tps[split]}")
pb=$(median "${tps[pgbouncer]}")
echo
echo "shim at 50 % / direct split (the same work on the same two servers): $(awk -v a="$s50" -v b="$sp" 'BEGIN {printf "%.3f", a / b}')"
echo "the shim's own work at 50 % (client CPU per transaction, shim at 50 % minus direct split): $(awk \
    -v a="$(median "${client_us[shim50]}")" -v b="$(median "${client_us[split]}")" 'BEGIN {printf "%.1f", a - b}') µs"
# The median, lowest and highest of the per-round ratios of two configurations' TPS.
paired() { # a b
    local r
    r=$(awk -v a="${tps[$1]}" -v b="${tps[$2]}" 'BEGIN {n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; ++i) print x[i] / y[i]}')
    awk -v m="$(median "$r")" -v lo="$(sort -g <<<"$r" | head -1)" -v hi="$(sort -g <<<"$r" | tail -1)" \
        'BEGIN {printf "%.3f (rounds %.2f-%.2f)", m, lo, hi}'
}
ratio() { paired "$1" "$2"; }
cpu_diff() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN {printf "%+.1f", a - b}'; }
echo "TPS ratios below: medians of the per-round ratios (each pair runs back to back in a round)"
echo "shim at 0 % / direct libpq (target 0.97): $(paired shim0 direct); pass-through / direct: $(paired passthrough direct)"
echo "the same libpq client, through the shim / without it (the shim's own cost; target 0.97):"
echo "  at 50 %, each statement drawn: $(ratio alt_shim50 alt_spread) (client CPU $(cpu_diff "${client_us[alt_shim50]}" \
    "${client_us[alt_spread]}") µs/tx, servers $(cpu_diff "${server_us[alt_shim50]}" "${server_us[alt_spread]}") µs/tx)"
echo "  at 50 %, sticky (half the connections on each server): $(ratio alt_shim_sticky alt_sticky) (client CPU \
$(cpu_diff "${client_us[alt_shim_sticky]}" "${client_us[alt_sticky]}") µs/tx, servers \
$(cpu_diff "${server_us[alt_shim_sticky]}" "${server_us[alt_sticky]}") µs/tx)"
echo "what spreading each connection's statements over two servers costs the servers, without any shim:"
echo "  $(cpu_diff "${server_us[alt_spread]}" "${server_us[alt_sticky]}") µs of server CPU per transaction (libpq client \
alternating vs sticky), TPS $(ratio alt_spread alt_sticky) of sticky"
echo "shim at 0 % / pgbouncer: $(paired shim0 pgbouncer) the TPS (ratio of medians $(awk -v a="$s0" -v b="$pb" \
    'BEGIN {printf "%.2f", a / b}'))"
echo "added latency per request (median latency, shim at 0 % minus direct): $(awk -v a="$(median "${lat[shim0]}")" -v b="$d_lat" 'BEGIN {printf "%.1f", (a - b) * 1000}') µs"
echo "  (the route at 50 % sends half the statements to a second server on the same $(nproc) cores: its TPS is the"
echo "   two servers'; the direct split is that without the shim.)"
echo "  (on a shared machine the TPS medians move by 10-20 % from run to run; the per-statement cost of the"
echo "   shim's own work is the micro-benchmark's BM_RouteStatement below, against a round trip of the latency above.)"

# What each statement costs the servers and the client, counted rather than
# timed: perf stat on the backends of both servers and on the client over a
# window in the middle of a run. Per statement answered (a backend sends one
# message batch per simple-protocol statement, so its sendto calls count the
# statements): the backends' recvfrom and epoll_wait calls (an epoll_wait is a
# backend that found no next statement waiting and went to sleep), context
# switches and CPU; the client's system calls, context switches and CPU.
# Counts do not move with the machine's load the way TPS does.
counted() { # name, command...
    local name=$1 wp pids q="SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    shift
    "$@" >"$work/$name.counted" 2>&1 &
    wp=$!
    sleep 1.5
    pids=$({ "$psql" -X -qAt -d "$M" -c "$q"; "$psql" -X -qAt -d "$S" -c "$q"; } | paste -sd,)
    perf stat -x, -o "$work/$name.srv" -p "$pids" -e syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom \
        -e syscalls:sys_enter_epoll_wait,context-switches,task-clock -- sleep 2 &
    perf stat -x, -o "$work/$name.cli" -p "$wp" -e raw_syscalls:sys_enter,context-switches,task-clock -- sleep 2 ||
        return 1
    wait $! || return 1
    wait "$wp" || return 1
    awk -F, -v name="${label[$name]}" '
        FNR == NR && $3 ~ /sendto/ {n = $1}
        FNR == NR && $3 ~ /recvfrom/ {rv = $1}
        FNR == NR && $3 ~ /epoll_wait/ {ep = $1}
        FNR == NR && $3 == "context-switches" {scs = $1}
        FNR == NR && $3 == "task-clock" {sms = $1}
        FNR != NR && $3 ~ /raw_syscalls/ {csys = $1}
        FNR != NR && $3 == "context-switches" {ccs = $1}
        FNR != NR && $3 == "task-clock" {cms = $1}
        END {if (n > 0) printf "%-38s %8d %6.2f %6.2f %6.2f %6.1f | %6.2f %6.2f %6.1f\n", name, n, rv / n, ep / n,
            scs / n, sms * 1000 / n, csys / n, ccs / n, cms * 1000 / n}' "$work/$name.srv" "$work/$name.cli"
}
echo
if perf stat -e syscalls:sys_enter_sendto -- true >/dev/null 2>&1; then
    echo "per statement, counted over 2 s in the middle of a 4 s run (perf stat; independent of the load):"
    printf "%-38s %8s %6s %6s %6s %6s | %6s %6s %6s\n" "" statmts "recv" "sleeps" "cswch" "µs" "sys" "cswch" "µs"
    printf "%-38s %8s %27s | %20s\n" "" "" "servers' backends" "client"
    (
        counted direct "$pgbench" -n -S -c "$clients" -j 2 -T 4 "$M"
        route 0
        counted shim0 env LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$M" "$pgbench" -n -S -c "$clients" -j 2 -T 4 "$M"
        counted alt_sticky "$alternate" --clients "$clients" --threads 2 --seconds 4 --dsn "$M" --dsn "$S" --sticky --tag
        route 0 '["client-1", "client-3"]'
        counted alt_shim_sticky env LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$M" "$alternate" --clients "$clients" \
            --threads 2 --seconds 4 --dsn "$M" --tag
        route 0
    ) || echo "  (the counted runs failed; see $work/*.counted)"
else
    echo "per statement, counted: skipped (perf stat with syscall tracepoints is not available here)"
fi

# The client's own work per transaction, counted in instructions
# (callgrind: the same count for the same binary and input however loaded
# the machine is): pgbench -S on one connection, direct and through the
# shim at 0 %; the difference is the shim's work per statement. Two runs
# of 1,000 and 3,000 transactions: their difference leaves out the start-up
# (connections, the shim's control plane), which is paid once.
instructions() { # env...
    local a b
    a=$(env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$pgbench" -n -S -c 1 -t 1000 "$M" 2>&1 |
        awk '/Collected :/ {print $NF}')
    b=$(env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$pgbench" -n -S -c 1 -t 3000 "$M" 2>&1 |
        awk '/Collected :/ {print $NF}')
    echo $((b - a))
}
echo
if command -v valgrind >/dev/null; then
    route 0
    i_direct=$(instructions)
    i_shim=$(instructions LD_PRELOAD="$shim" PYMIGRATE_CONTROL_DSN="$M")
    i_pass=$(instructions LD_PRELOAD="$shim")
    echo "client instructions per transaction (callgrind, pgbench -S, 1 connection; 3,000 minus 1,000 transactions):"
    awk -v d="$i_direct" -v s="$i_shim" -v p="$i_pass" 'BEGIN {
        printf "  direct libpq %.0f; shim, route at 0 %% %.0f (%+.0f, %+.1f %%); shim, not configured %.0f (%+.0f)\n",
            d / 2000, s / 2000, (s - d) / 2000, (s - d) * 100 / d, p / 2000, (p - d) / 2000}'
else
    echo "client instructions per transaction: skipped (valgrind is not installed)"
fi

echo
echo "router per-statement work (Google Benchmark; p50/p99/p999 of single decide() calls include ~20 ns of clock reads)"
"$micro" --benchmark_min_time=0.3 2>/dev/null | sed -n '/^Benchmark/,$p'
p99=$("$micro" --benchmark_filter=BM_DecideLatency --benchmark_min_time=0.3 --benchmark_format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(int(json.load(sys.stdin)["benchmarks"][0]["p99_ns"]))')
echo "decide p99: ${p99} ns (target: under 1000 ns)"

echo
echo "rollback propagation: a running application's statements move to the monolith after a rollback commits"
sql <<SQL
SELECT pymigrate.route_set(jsonb_build_object('name', 'probe', 'tables', jsonb_build_array('public.probe'),
                           'dsn', :'service_dsn', 'percent', 100));
SQL
PROBE_DSN="$M" PYMIGRATE_CONTROL_DSN="$M" "$probe" propagation probe 9 | sed 's/^/  /'
