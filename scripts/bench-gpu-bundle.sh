#!/usr/bin/env bash
# Builds a self-contained folder that runs `pnpm bench:gpu` on a headless Linux x86-64 machine with an
# NVIDIA GPU (Dawn's Vulkan backend), without pnpm, the repository or network access there:
#
#   bench.mjs                       the benchmark, TensorFlow.js included (one esbuild bundle of dist/bench.js)
#   node_modules/webgpu/            Dawn for Node (index.js + dist/linux-x64/dawn.node)
#   lib/                            the Vulkan loader and glvnd libraries (libvulkan.so.1, libGLdispatch.so.0, …),
#                                   used only where the machine has no libvulkan.so.1 of its own
#   bin/node.xz                     (with --with-node) this machine's Node.js, for machines without Node ≥ 20
#   run.sh                          finds Node, the loader and the NVIDIA driver manifest, then runs the bench
#
# Usage: scripts/bench-gpu-bundle.sh [--out DIR] [--with-node] [--no-build] [--tar]
#   --out DIR     where to write the folder (default .bench-gpu, git-ignored)
#   --with-node   add bin/node.xz (about 25 MB)
#   --no-build    use the existing dist/ (default: run `pnpm build` first)
#   --tar         also write DIR.tar.gz
# Then: copy DIR to the GPU machine and run `DIR/run.sh` (flags go to the bench: --quick, --json=…,
# --peak-tflops=…, --budget-s=…). See BENCHMARKS.md, "Running the GPU benchmark on a headless NVIDIA
# Linux machine".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.bench-gpu"
with_node=0
build=1
tar=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --with-node) with_node=1; shift ;;
    --no-build) build=0; shift ;;
    --tar) tar=1; shift ;;
    *) echo "scratchgpt: bench-gpu-bundle: unknown option '$1' (expected --out DIR, --with-node, --no-build, --tar)" >&2; exit 2 ;;
  esac
done
if [ "$(uname -m)" != x86_64 ]; then
  echo "scratchgpt: bench-gpu-bundle: this machine is $(uname -m); the bundle's Dawn, Node and libraries must be x86-64" >&2
  exit 1
fi

cd "$root"
if [ "$build" = 1 ]; then pnpm build; fi
if [ ! -f dist/bench.js ]; then
  echo "scratchgpt: bench-gpu-bundle: dist/bench.js is missing (run pnpm build, or drop --no-build)" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out/node_modules/webgpu/dist/linux-x64" "$out/lib"

# One ES module with TF.js inlined (its CommonJS parts get a real `require`); Dawn stays external.
npx esbuild dist/bench.js --bundle --platform=node --format=esm --target=node20 --external:webgpu \
  --banner:js="import { createRequire as __scratchgptRequire } from 'node:module'; const require = __scratchgptRequire(import.meta.url);" \
  --log-level=warning --outfile="$out/bench.mjs"

webgpu=$(node -e "console.log(require('node:path').dirname(require.resolve('webgpu/package.json')))" 2>/dev/null || realpath node_modules/webgpu)
cp "$webgpu/package.json" "$webgpu/index.js" "$out/node_modules/webgpu/"
cp "$webgpu/dist/linux-x64/dawn.node" "$out/node_modules/webgpu/dist/linux-x64/"

# The Vulkan loader, and glvnd (NVIDIA's Vulkan driver, libGLX_nvidia.so.0, needs libGLdispatch.so.0):
# from this machine's installed packages, else downloaded with apt-get (Debian/Ubuntu, amd64).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pkg in libvulkan1 libglvnd0 libglx0 libegl1; do
  # Only the soname files (libvulkan.so.1, …), as plain files: links do not survive every way of copying.
  if files=$(dpkg -L "$pkg" 2>/dev/null | grep -E '/lib[^/]*\.so\.[0-9]+$'); then
    for f in $files; do cp -L "$f" "$out/lib/"; done
  elif (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1); then
    dpkg-deb -x "$tmp/${pkg}"_*.deb "$tmp/x"
    find "$tmp/x" -regextype posix-extended -regex '.*/lib[^/]*\.so\.[0-9]+' -exec cp -L {} "$out/lib/" \;
  else
    echo "scratchgpt: bench-gpu-bundle: warning: $pkg is neither installed nor downloadable (apt-get download $pkg); lib/ lacks it" >&2
  fi
done

if [ "$with_node" = 1 ]; then
  mkdir -p "$out/bin"
  xz -T0 -6 -c "$(command -v node)" >"$out/bin/node.xz"
fi

cat >"$out/run.sh" <<'RUN'
#!/bin/sh
# Runs the scratchgpt GPU benchmark from this folder (made by scripts/bench-gpu-bundle.sh).
# Usage: ./run.sh [--allow-cpu] [bench flags: --quick --json=PATH --peak-tflops=N --budget-s=N --no-tfjs --sections=…]
#   --allow-cpu   let the bench run on a CPU adapter (default: Dawn's Vulkan backend, and a CPU adapter is an error)
# Environment: NODE (a Node.js ≥ 20 binary), VK_DRIVER_FILES (the NVIDIA ICD manifest, found when unset).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

allow_cpu=0
if [ "${1:-}" = "--allow-cpu" ]; then allow_cpu=1; shift; fi

node_ok() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; }
NODE=${NODE:-}
if [ -z "$NODE" ]; then
  if command -v node >/dev/null 2>&1 && node_ok node; then NODE=node
  elif [ -f "$here/bin/node.xz" ]; then
    NODE=${TMPDIR:-/tmp}/scratchgpt-bench-node
    [ -x "$NODE" ] || { xz -dc "$here/bin/node.xz" >"$NODE.part" && chmod +x "$NODE.part" && mv "$NODE.part" "$NODE"; }
  else
    echo "scratchgpt: run.sh: no Node.js >= 20 found: install one, set NODE=/path/to/node, or rebuild the bundle with --with-node" >&2
    exit 1
  fi
fi

# The Vulkan loader: the machine's own if it has one, else the bundle's.
has_loader=0
for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64 /usr/lib /usr/local/lib; do
  [ -e "$d/libvulkan.so.1" ] && has_loader=1
done
libs=""
[ "$has_loader" = 1 ] || libs="$here/lib"
# Driver libraries of containers that mount the NVIDIA driver under /usr/local/nvidia.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && libs="${libs:+$libs:}$d"
done
[ -n "$libs" ] && export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The NVIDIA driver's manifest, where the loader's own search would miss it (container mounts).
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json \
    /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then
      export VK_DRIVER_FILES="$f" VK_ICD_FILENAMES="$f"
      break
    fi
  done
fi
if [ -n "${VK_DRIVER_FILES:-}" ] && [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

cd "$here"
if [ "$allow_cpu" = 1 ]; then
  exec "$NODE" bench.mjs --only=gpu "$@"
fi
export SCRATCHGPT_BACKEND=${SCRATCHGPT_BACKEND:-vulkan}
echo "scratchgpt: node $("$NODE" --version), Vulkan driver manifest ${VK_DRIVER_FILES:-(loader default)}, loader $([ "$has_loader" = 1 ] && echo system || echo bundled)" >&2
exec "$NODE" bench.mjs --only=gpu --require-gpu "$@"
RUN
chmod +x "$out/run.sh"

cat >"$out/README.txt" <<'TXT'
scratchgpt GPU benchmark bundle (scripts/bench-gpu-bundle.sh). On a Linux x86-64 machine with an NVIDIA GPU and its
driver (Vulkan ICD): ./run.sh [--quick] [--json=out.json] [--peak-tflops=N]. Prints markdown tables, writes JSON
(bench-gpu.json here unless --json= says otherwise). ./run.sh --allow-cpu runs on whatever adapter Dawn finds.
See BENCHMARKS.md in the repository, "Running the GPU benchmark on a headless NVIDIA Linux machine".
TXT

if [ "$tar" = 1 ]; then tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"; fi
echo "scratchgpt: GPU benchmark bundle in $out ($(du -sh "$out" | cut -f1))"
