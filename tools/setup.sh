#!/usr/bin/env bash
# Install what vkdl needs (Debian 12 / Ubuntu), then configure and build it in ./build.
# Safe to re-run: installs only missing packages and rebuilds incrementally.
#   BUILD=dir   build directory (default: build)
#   MESON_ARGS  extra `meson setup` arguments, e.g. -Db_sanitize=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

packages=(
  gcc pkg-config meson ninja-build python3
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  glslc spirv-tools
  libopenblas-dev libpng-dev
  chromium-common   # ships SwiftShader, the second software Vulkan driver the tests use
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  # shellcheck disable=SC2086
  meson setup "$BUILD" ${MESON_ARGS:-}
fi
ninja -C "$BUILD"
