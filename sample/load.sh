#!/usr/bin/env bash
# Loads the sample monolith into a database: sample/load.sh DSN [SCALE]
# (scale 1: about 110k rows; order_items has 20,000 x SCALE rows).
# The database must be empty of the sample's tables.
set -euo pipefail
dsn="${1:?usage: sample/load.sh DSN [SCALE]}"
scale="${2:-1}"
[[ "$scale" =~ ^[1-9][0-9]*$ ]] || { echo "sample/load.sh: SCALE must be a positive integer, not \"$scale\"" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
psql=(psql -X -q -v ON_ERROR_STOP=1 -d "$dsn")
[[ -n "${PYMIGRATE_PGBIN:-}" ]] && psql[0]="$PYMIGRATE_PGBIN/psql"
"${psql[@]}" -v scale="$scale" -f "$here/schema.sql" -f "$here/data.sql" -f "$here/constraints.sql" >/dev/null
