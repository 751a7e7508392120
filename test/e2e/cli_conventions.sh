#!/usr/bin/env bash
# End-to-end: the `pymigrate` CLI as one tool. Every command and subcommand
# has --help with examples; the top-level help lists every command; the
# common flags are accepted by every command; a password in a connection
# string never reaches the output; exit codes are the documented ones.
set -euo pipefail
build="${PYMIGRATE_BUILD:?run through make test}"
pm="$build/cmake/cli/pymigrate"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

top_help=$("$pm" --help)
commands=$(sed -n '/^Subcommands:/,/^$/p' <<<"$top_help" | awk 'NR > 1 && NF {print $1}')
[[ -n "$commands" ]] || fail "pymigrate --help lists no commands"
for c in version analyze generate sync route validate; do
    grep -qx "$c" <<<"$commands" || fail "pymigrate --help does not list $c"
done
grep -q "Exit codes: 0" <<<"$top_help" || fail "pymigrate --help does not document the exit codes"

check_help() {
    local help rc=0
    help=$("$pm" "$@" --help 2>&1) || rc=$?
    ((rc == 0)) || fail "pymigrate $* --help exited $rc"
    grep -qi "example" <<<"$help" || fail "pymigrate $* --help has no example"
    grep -q -- "--monolith" <<<"$help" || fail "pymigrate $* --help does not show the common --monolith flag"
}
subcommands() { "$pm" "$@" --help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'; }
for c in $commands; do
    check_help "$c"
    for sub in $(subcommands "$c"); do
        check_help "$c" "$sub"
    done
done

# A password in a connection string is masked in errors (nothing listens on
# this socket directory, so every command fails to connect).
dsn="host=/nonexistent-pymigrate port=1 dbname=shop user=app password=hunter2"
for args in "version" "validate -t t" "route show" "sync status" "analyze"; do
    rc=0
    output=$("$pm" $args --monolith "$dsn" --service "$dsn" 2>&1) || rc=$?
    grep -q hunter2 <<<"$output" && fail "pymigrate $args printed the password: $output"
    [[ $rc == 1 ]] || fail "pymigrate $args: a server that cannot be reached should exit 1, not $rc ($output)"
done

# Bad usage exits 2 and says what was wrong.
rc=0
output=$("$pm" route ramp 2>&1) || rc=$?
[[ $rc == 2 ]] || fail "a missing argument should exit 2, not $rc"
grep -q "service" <<<"$output" || fail "a missing argument is not named: $output"
rc=0
output=$("$pm" no-such-command 2>&1) || rc=$?
[[ $rc == 2 ]] || fail "an unknown command should exit 2, not $rc"

((failures == 0)) || { echo "$failures CLI convention(s) broken"; exit 1; }
echo "PASS: CLI conventions ($(wc -w <<<"$commands") commands)"
