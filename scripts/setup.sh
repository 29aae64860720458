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
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" --silent
fi

pnpm install --frozen-lockfile
