#!/usr/bin/env bash
# End-to-end: Ctrl-C in the middle of the demo (during the ramp, while the
# application workload runs under the shim) stops everything it started and
# removes both clusters.
set -euo pipefail
top="${PYMIGRATE_TOP:?run through make test}"
out=$(mktemp -d /tmp/pymigrate-e2e.XXXXXX)
trap 'rm -rf "$out"' EXIT
log="$out/demo.log"

# Its own process group, as a terminal would give it, so the signal reaches
# the whole job the way Ctrl-C does.
DEMO_QUICK=1 DEMO_OUT="$out/files" setsid "$top/demo/demo.sh" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    grep -q '^\[6\] ' "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "FAIL: the demo ended before step 6"; exit 1; }
    sleep 0.5
done
grep -q '^\[6\] ' "$log" || { cat "$log"; echo "FAIL: step 6 never started"; exit 1; }
run_dir=$(sed -n "s/.*host='\?\(\/tmp\/pymigrate-clusters\/run-[0-9-]*\)\/monolith.*/\1/p" "$log" | head -1)
sleep 4
pgrep -f "pgbench.*$run_dir" >/dev/null || { cat "$log"; echo "FAIL: no application workload runs in step 6"; exit 1; }
kill -INT -- -"$pid"
rc=0
wait "$pid" || rc=$?
cat "$log"
((rc != 0)) || { echo "FAIL: an interrupted demo exited 0"; exit 1; }
[[ -n "$run_dir" && ! -e "$run_dir" ]] || { echo "FAIL: cluster directory $run_dir left behind"; exit 1; }
sleep 1
if pgrep -f "$run_dir" >/dev/null || pgrep -f "$out/files" >/dev/null; then
    pgrep -af "$run_dir|$out/files"
    echo "FAIL: processes left running after Ctrl-C"
    exit 1
fi
echo "PASS: Ctrl-C stops the demo and cleans up"
