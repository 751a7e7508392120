# Printing and checking helpers of the demo story (sourced by story.sh).
# Each step prints what it does, shows the tool's own output indented, and
# ends with a check: `ok` when the result is what the step says, `fail`
# (exit 1) otherwise.

bold=$'\e[1m'; dim=$'\e[2m'; green=$'\e[32m'; red=$'\e[31m'; reset=$'\e[0m'
[[ -t 1 ]] || { bold=; dim=; green=; red=; reset=; }
step_no=0
declare -a step_times=()

step() {
    step_no=$((step_no + 1))
    step_t0=$SECONDS
    step_title=$1
    echo
    echo "${bold}[$step_no] $*${reset}"
}
ok() {
    step_times+=("$(printf '%4ss  [%s] %s' $((SECONDS - step_t0)) "$step_no" "$step_title")")
    echo "    ${green}✓${reset} $* ($((SECONDS - step_t0))s)"
}
fail() {
    echo "    ${red}✗ $*${reset}" >&2
    exit 1
}
say() { echo "    $*"; }
# A command's output, indented under the step (its exit status is kept).
show() {
    local rc=0
    "$@" 2>&1 | sed 's/^/      /' || rc=$?
    ((rc == 0)) && rc=${PIPESTATUS[0]}
    return "$rc"
}
# Runs "$@" in the background and prints a live "label... Ns" until it ends;
# returns its exit status.
with_progress() {
    local label=$1; shift
    local t0=$SECONDS rc=0
    "$@" &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        [[ -t 1 ]] && printf '\r    %s... %ds' "$label" $((SECONDS - t0))
        sleep 1
    done
    wait "$pid" || rc=$?
    [[ -t 1 ]] && printf '\r\e[K'
    return "$rc"
}
# Waits up to $1 seconds for "$2..." to succeed, printing progress as $3.
wait_until() {
    local limit=$1 label=$2; shift 2
    local t0=$SECONDS
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - t0 >= limit)) && { [[ -t 1 ]] && printf '\r\e[K'; return 1; }
        [[ -t 1 ]] && printf '\r    %s... %ds' "$label" $((SECONDS - t0))
        sleep 0.5
    done
    [[ -t 1 ]] && printf '\r\e[K'
    return 0
}
# A value from a JSON document on stdin: json_get 'expression over d'.
json_get() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
