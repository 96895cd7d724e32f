#!/usr/bin/env bash
# On a GPU machine with no internet and perhaps no Node, from the bundle bench/device/pack.sh made:
#   bash bench/device/run.sh [.cache/device/bundle.tar.xz] [steps]
# 1. unpacks the bundle (its own Node) into $TMPDIR;
# 2. brings the Vulkan loader where the machine has none: libvulkan1, carried as its Debian package and unpacked
#    into the work folder (LD_LIBRARY_PATH), never into /; points the loader at NVIDIA's ICD if none is registered;
# 3. runs the golden optimizer trajectories on webgpu (bench/device/golden.mjs);
# 4. trains configs/vit.yaml and configs/vit-large.yaml on webgpu for a fixed number of steps (default 300);
# 5. prints the bench table (ms/step, examples/s, GFLOP/s, test accuracy, adapter).
set -euo pipefail
BUNDLE=$(realpath "${1:-.cache/device/bundle.tar.xz}")
STEPS=${2:-300}
WORK=${TMPDIR:-/tmp}/lion-train-device
rm -rf "$WORK" && mkdir -p "$WORK"
xz -dc "$BUNDLE" | tar -C "$WORK" -xf -
B=$WORK/bundle
NODE=$B/bin/node
echo "node $("$NODE" --version) from the bundle"

if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
  deb=$(ls "$B"/debs/libvulkan1_*.deb)
  mkdir -p "$WORK/vulkan"
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$WORK/vulkan"
  else (cd "$WORK/vulkan" && ar x "$deb" && tar -xf data.tar.*); fi
  export LD_LIBRARY_PATH=$WORK/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "Vulkan loader: $(basename "$deb"), unpacked into $WORK/vulkan"
fi
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/nvidia/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; echo "Vulkan driver: $icd"; break; fi
  done
fi

cd "$B"
status=0
"$NODE" bench/device/golden.mjs golden || status=$?
for config in vit vit-large; do
  "$NODE" bin/lion-train train "configs/$config.yaml" --set train.backend=webgpu --set "train.steps=$STEPS" --set train.maxMinutes=null \
    --set "log.everySteps=$(( STEPS < 100 ? STEPS : 100 ))" --set "output.dir=$WORK/runs/$config" --overwrite 2>&1 | grep -v '^Warning\|XDG_RUNTIME_DIR' || status=$?
done
echo
"$NODE" bench/device/table.mjs "$WORK"/runs/*
exit $status
