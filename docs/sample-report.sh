#!/usr/bin/env bash
# Makes the sample project and report of docs/projects.md: five variants of the built-in demo CNN compressed by
# the recipes in docs/recipes/, measured on the whole Fashion-MNIST test set, a sensitivity sweep, limits of
# 300 KiB and 1 point of accuracy, then the report as PDF, its first two pages as PNG, and the Compare tab on the
# project (docs/screenshots/compare.png, and its side-by-side page at 1280x720: compare-side-by-side.png).
#   docs/sample-report.sh [OUT_DIR]      (default: docs/; needs a build in build/, or CWB=path/to/cwb)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cwb="${CWB:-$root/build/app/cwb}"
out="$(cd "${1:-$root/docs}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cp -r "$root/docs/recipes" .   # the commands in the report then name them as recipes/NAME.json
"$cwb" project new demo.cwproj demo --max-size 300K --max-drop 1
for recipe in w8-weights w4-weights int8 magnitude50-int8 w4a8-qat; do
  "$cwb" compress demo --recipe "recipes/$recipe.json" --project demo.cwproj --data fashion-mnist
done
"$cwb" sensitivity demo --data fashion-mnist --limit 1000 --project demo.cwproj > /dev/null
"$cwb" project show demo.cwproj
"$cwb" report demo.cwproj -o "$out/report-sample.pdf"
pdftoppm -r 70 -png -f 1 -l 2 "$out/report-sample.pdf" "$out/screenshots/report-page"
XDG_CONFIG_HOME="$work/config" QT_QPA_PLATFORM=offscreen "$(dirname "$cwb")/compression-workbench" \
  --open demo.cwproj --compare --screenshot "$out/screenshots/compare.png"
mkdir -p "$work/config-side/CompressionWorkbench"   # the Compare tab's remembered page: side by side
printf '[compare]\npage=1\n' > "$work/config-side/CompressionWorkbench/Compression Workbench.conf"
XDG_CONFIG_HOME="$work/config-side" QT_QPA_PLATFORM=offscreen "$(dirname "$cwb")/compression-workbench" \
  --open demo.cwproj --compare --window-size 1280x720 --screenshot "$out/screenshots/compare-side-by-side.png"
