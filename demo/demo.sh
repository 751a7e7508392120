#!/usr/bin/env bash
# `make demo`: two throwaway PostgreSQL 15 clusters (monolith and service),
# then the migration story (demo/story.sh) against them. pm-cluster stops and
# removes both clusters when the story ends, fails, or is interrupted.
set -euo pipefail
top="${PYMIGRATE_TOP:-$(cd "$(dirname "$0")/.." && pwd)}"
build="${PYMIGRATE_BUILD:-$top/build}"
export PYMIGRATE_TOP="$top" PYMIGRATE_BUILD="$build"
exec "$build/cmake/test/harness/pm-cluster" run \
    -c "monolith:shared_preload_libraries='pymigrate,pg_stat_statements'" -c service -- "$top/demo/story.sh" "$@"
