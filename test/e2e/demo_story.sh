#!/usr/bin/env bash
# End-to-end: the demo's whole story (demo/story.sh) with short workloads,
# on two throwaway clusters from the test tree. The story checks each step's
# outcome itself and stops at the first that does not hold; this test also
# checks that every step reported success and that nothing was left running.
set -euo pipefail
top="${PYMIGRATE_TOP:?run through make test}"
out=$(mktemp -d /tmp/pymigrate-e2e.XXXXXX)
trap 'rm -rf "$out"' EXIT
log="$out/demo.log"

rc=0
DEMO_QUICK=1 DEMO_OUT="$out/files" "$top/demo/demo.sh" >"$log" 2>&1 || rc=$?
cat "$log"
((rc == 0)) || { echo "FAIL: the demo exited $rc"; exit 1; }

steps=$(grep -c '^\[[0-9]*\] ' "$log")
checked=$(grep -c '✓' "$log")
((steps >= 10 && checked == steps)) || { echo "FAIL: $steps steps, $checked checked"; exit 1; }
grep -q 'demo finished: every step checked' "$log" || { echo "FAIL: no final line"; exit 1; }
# What each step claims, as the story printed it.
for claim in 'services recommended; support_ticket_service = agents,support_tickets,ticket_messages' \
             'the FastAPI service answered' 'both directions streaming' \
             'the service takes 100 % of the support desk' 'conflict(s) logged' \
             'found the broken row' 'support_ticket_service is at 100 % already' \
             'rolled back to the monolith automatically' 'consistent again'; do
    grep -qF "$claim" "$log" || { echo "FAIL: the demo never said \"$claim\""; exit 1; }
done
[[ -s "$out/files/services.svg" && -s "$out/files/support_ticket_service/openapi.yaml" ]] ||
    { echo "FAIL: the SVG or the generated service is missing"; exit 1; }
run_dir=$(sed -n "s/.*host='\?\(\/tmp\/pymigrate-clusters\/run-[0-9-]*\)\/monolith.*/\1/p" "$log" | head -1)
[[ -n "$run_dir" ]] || { echo "FAIL: the demo did not print its monolith's connection string"; exit 1; }
[[ ! -e "$run_dir" ]] || { echo "FAIL: $run_dir was left behind"; exit 1; }
! pgrep -f "$run_dir" >/dev/null || { echo "FAIL: processes of $run_dir are still running"; exit 1; }
echo "PASS: demo story ($steps steps checked)"
