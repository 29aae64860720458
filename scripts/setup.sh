#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine (or any machine with Node ≥ 20) for scratchgpt:
# software WebGPU adapters for GPU-less Linux, headless Chromium for browser tests, pnpm, deps.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.8
APT_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libegl-dev libvulkan1 chromium)

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Mesa lavapipe ≥ 24 (Vulkan on the CPU, with shader-f16 and subgroups) runs the f16/subgroup kernel
  # variants' tests (the `lavapipe` vitest project). Dawn rejects the lavapipe of Mesa 22 (bookworm's own):
  # on bookworm it comes from bookworm-backports (this also moves Mesa's OpenGL/llvmpipe to the same release).
  lvp_version="$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)"
  if ! [[ "$lvp_version" =~ ^(2[4-9]|[3-9][0-9])\. ]]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    suite=()
    if grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
      # bookworm-backports from the mirror (and with the signing key) of the machine's own bookworm source,
      # so that a machine behind a local or corporate mirror keeps using it (scripts/apt-backports.mjs).
      if ! source_json="$(node scripts/apt-backports.mjs --codename bookworm)"; then
        echo "setup: cannot add bookworm-backports (Mesa lavapipe ≥ 24 for the lavapipe tests): see the line above; add a bookworm-backports source for your mirror and rerun" >&2
        exit 1
      fi
      if [ "$(node -e 'process.stdout.write(String(JSON.parse(process.argv[1]).present === true))' "$source_json")" = true ]; then
        echo "setup: using the bookworm-backports source in $(node -e 'process.stdout.write(JSON.parse(process.argv[1]).file)' "$source_json")"
      else
        file="$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).file)' "$source_json")"
        node -e 'process.stdout.write(JSON.parse(process.argv[1]).content)' "$source_json" | $SUDO tee "$file" >/dev/null
        echo "setup: added $file: bookworm-backports from $(node -e 'const j = JSON.parse(process.argv[1]); process.stdout.write(`${j.uri} (the mirror of ${j.from})`)' "$source_json")"
      fi
      suite=(-t bookworm-backports)
    fi
    echo "setup: installing mesa-vulkan-drivers (lavapipe) ${suite[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${suite[@]}" mesa-vulkan-drivers >/dev/null
  fi
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" --silent
fi

pnpm install --frozen-lockfile
