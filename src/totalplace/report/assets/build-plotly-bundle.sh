#!/usr/bin/env bash
# Rebuild plotly-report.min.js: plotly.js with only the trace types the report draws.
#
# The report embeds this smaller bundle (1.4 MB instead of the full 4.8 MB) when every chart
# uses only these traces and its version matches the plotly.js inside the installed plotly
# package (totalplace.report.render.report_js); otherwise it embeds the full one. A browser
# evaluates the small bundle about five times faster, which is most of the time to the first
# chart. Run this after upgrading plotly, with the version the plotly package bundles:
#
#   python -c "from plotly.offline import get_plotlyjs_version as v; print(v())"
#   src/totalplace/report/assets/build-plotly-bundle.sh 4.1.1
#
# Needs node and npm (the npm registry); builds in a temporary folder.
set -euo pipefail
version="${1:?plotly.js version, e.g. 4.1.1}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "plotly.js@${version}" esbuild@0.25 >/dev/null
traces="bar heatmap waterfall sankey"  # scatter is always in plotly.js core
{
  echo "'use strict';"
  echo "var Plotly = require('plotly.js/lib/core');"
  echo "Plotly.register(["
  for t in $traces; do echo "  require('plotly.js/lib/${t}'),"; done
  echo "]);"
  echo "module.exports = Plotly;"
} > entry.js
./node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --global-name=Plotly \
  --target=es2016 --define:global=window --define:define.amd=false \
  --alias:stream=stream-browserify --log-level=warning --outfile=bundle.js
{
  echo "/**"
  echo "* plotly.js v${version} (partial bundle for totalplace: scatter ${traces})"
  echo "* Copyright 2012-2026, Plotly, Inc."
  echo "* All rights reserved."
  echo "* Licensed under the MIT license"
  echo "*/"
  cat bundle.js
} > "$here/plotly-report.min.js"
echo "wrote $here/plotly-report.min.js ($(wc -c < "$here/plotly-report.min.js") bytes)"
