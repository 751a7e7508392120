#!/usr/bin/env bash
# Runs the pg_regress suite against a throwaway cluster (pm-cluster run) that
# preloads pymigrate, from the private server tree of `make tmp-install`.
set -euo pipefail
top="${PYMIGRATE_TOP:?}"
build="${PYMIGRATE_BUILD:?}"
pgbin="${PYMIGRATE_PGBIN:?}"
here="$top/test/regress"
out="$build/regress"
"$here/check-schedule.sh"
rm -rf "$out" && mkdir -p "$out"
pg_regress="$(/usr/lib/postgresql/15/bin/pg_config --pgxs | sed 's|src/makefiles/pgxs.mk|src/test/regress/pg_regress|')"
exec "$build/cmake/test/harness/pm-cluster" run -c regress -- bash -c '
  "$0" --host="$PM_REGRESS_HOST" --port="$PM_REGRESS_PORT" --user=postgres \
    --bindir="$1" --inputdir="$2" --outputdir="$3" --schedule="$2/schedule" \
    --load-extension=pymigrate --dbname=pymigrate_regress' \
  "$pg_regress" "$pgbin" "$here" "$out"
