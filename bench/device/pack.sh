#!/usr/bin/env bash
# Builds a self-contained bundle for a GPU machine that has no internet and perhaps no Node:
#   .cache/device/bundle.tar.xz   (< 60 MiB; checked)
# holding this machine's Node binary, the production npm packages pruned to what Node loads
# (@tensorflow/* reduced to their package.json and Node entry file, webgpu to its linux-x64 dawn.node),
# dist/, bin/, schemas/, configs/, the golden trajectories and bench/device/*.
# Carry it to the GPU machine with the working tree and run bench/device/run.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=.cache/device
STAGE=$OUT/bundle
rm -rf "$STAGE" && mkdir -p "$STAGE/bin" "$STAGE/node_modules"

npm run build >/dev/null
cp "$(command -v node)" "$STAGE/bin/node"
cp -r dist bin schemas configs package.json "$STAGE/"
mkdir -p "$STAGE/golden" "$STAGE/bench/device"
cp test/fixtures/golden/*.json "$STAGE/golden/" 2>/dev/null || cp /work/shared/golden/*.json "$STAGE/golden/"
cp bench/device/*.mjs bench/device/run.sh "$STAGE/bench/device/"
# The Vulkan loader as its Debian package (the GPU machine has no apt access): run.sh unpacks it there.
mkdir -p "$STAGE/debs"
(cd "$STAGE/debs" && apt-get download -o APT::Sandbox::User="$(id -un)" libvulkan1 >/dev/null)

# The production dependency tree (npm's own view), copied whole, then pruned.
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$ROOT/||" | sort -u | while read -r dir; do
  [ -e "$STAGE/$dir" ] && continue # inside a package copied already
  mkdir -p "$STAGE/$(dirname "$dir")"
  cp -r "$dir" "$STAGE/$dir"
done
for pkg in "$STAGE"/node_modules/@tensorflow/*/; do
  pkg=${pkg%/}
  main=$(node -p "require('$ROOT/${pkg#"$STAGE"/}/package.json').main")
  find "$pkg" -mindepth 1 -maxdepth 1 ! -name package.json ! -name dist -exec rm -rf {} +
  find "$pkg/dist" -type f ! -path "$pkg/$main" ! -name '*.wasm' -delete
  find "$pkg/dist" -type d -empty -delete
done
find "$STAGE/node_modules/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name linux-x64 ! -name '*.js' -exec rm -rf {} +
rm -rf "$STAGE"/node_modules/vega* "$STAGE"/node_modules/@stdlib "$STAGE"/node_modules/core-js
find "$STAGE/node_modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.md' -o -name test -o -name tests \) -prune -exec rm -rf {} +

tar -C "$OUT" -cf - bundle | xz -T0 -6 > "$OUT/bundle.tar.xz"
size=$(stat -c %s "$OUT/bundle.tar.xz")
echo "bench/device/pack.sh: $OUT/bundle.tar.xz $((size / 1048576)) MiB ($(du -sm "$STAGE" | cut -f1) MiB unpacked)"
if [ "$size" -ge $((60 * 1048576)) ]; then echo "bench/device/pack.sh: the bundle is over 60 MiB" >&2; exit 1; fi
