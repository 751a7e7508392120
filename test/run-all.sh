#!/usr/bin/env bash
# `make test`: every stage runs even when an earlier one failed, then one
# summary line; the exit status is non-zero when anything failed.
# Stages: unit (GoogleTest), integration (GoogleTest with live clusters),
# regress (pg_regress), e2e (the demo's story, shortened).
# With arguments, runs only the stages named.
set -uo pipefail
top="${PYMIGRATE_TOP:?run through make}"
build="${PYMIGRATE_BUILD:?run through make}"
stages=("$@")
((${#stages[@]})) || stages=(unit integration regress e2e)
jobs=$(nproc)

# Ctrl-C stops the whole run (each stage cleans up its own servers), rather
# than going on to the next stage.
trap 'echo "pymigrate tests INTERRUPTED"; exit 130' INT TERM

declare -A result
start_all=$SECONDS

run_stage() {
    local name=$1; shift
    local t0=$SECONDS
    echo "=== $name ==="
    if "$@"; then result[$name]="ok ($((SECONDS - t0))s)"; else result[$name]="FAILED ($((SECONDS - t0))s)"; fi
}

for stage in "${stages[@]}"; do
    case "$stage" in
    unit | integration)
        run_stage "$stage" ctest --test-dir "$build/cmake" -L "^$stage\$" -j "$jobs" --output-on-failure --no-tests=ignore ;;
    regress)
        run_stage regress "$top/test/regress/run.sh" ;;
    e2e)
        shopt -s nullglob
        scripts=("$top"/test/e2e/*.sh)
        shopt -u nullglob
        if ((${#scripts[@]} == 0)); then
            result[e2e]="none yet"
        else
            run_stage e2e bash -c 'for s in "$@"; do echo "--- $s"; "$s" || exit 1; done' _ "${scripts[@]}"
        fi ;;
    *)
        echo "unknown test stage: $stage (stages: unit integration regress e2e)" >&2; exit 2 ;;
    esac
done

summary=""
failed=0
for stage in "${stages[@]}"; do
    summary+="$stage ${result[$stage]}, "
    [[ "${result[$stage]}" == FAILED* ]] && failed=1
done
if ((failed)); then verdict=FAILED; else verdict=PASSED; fi
echo "pymigrate tests ${verdict}: ${summary%, } — $((SECONDS - start_all))s in all"
exit $failed
