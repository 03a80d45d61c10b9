#!/usr/bin/env bash
# Screenshot of the project's lineage (dbt docs' lineage graph) for the README, taken with headless
# Chromium (Debian's package) from `dbt docs generate --static` output.
#   scripts/lineage-screenshot.sh [OUT.png]        default docs/lineage.png
# Shows the sources, staging, intermediate models and marts the exposures and metrics read, and
# the history models; tests and unit tests left out. dbt compiles against the database of the libpq
# variables, else the embedded server (`linkage db env`); nothing is built.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/lineage.png}
bin=.venv/bin
command -v chromium >/dev/null || { echo "error: needs Chromium (Debian: apt-get install chromium)" >&2; exit 2; }
if [ -z "${PGHOST:-}${PGPORT:-}${PGUSER:-}${PGPASSWORD:-}${PGDATABASE:-}" ]; then
    eval "$("$bin/linkage" db env --dbname postgres)"
fi
mkdir -p .dbt "$(dirname "$out")"
cp profiles.example.yml .dbt/profiles.yml
DBT_PROFILES_DIR="$PWD/.dbt" "$bin/dbt" docs generate --static --empty-catalog --target-path target_lineage >/dev/null
# dbt docs keeps the graph's selection in the URL: g_v (graph shown), g_i (--select), g_e (--exclude)
select='%2Bexposure:*%20%2Bmetric:*%20%2Btest_result_history'
exclude='resource_type:unit_test'
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1800,1000 \
    --force-device-scale-factor=1.5 --virtual-time-budget=15000 --screenshot="$PWD/$out" \
    "file://$PWD/target_lineage/static_index.html#!/overview?g_v=1&g_i=$select&g_e=$exclude" 2>/dev/null
echo "lineage screenshot: $out"
