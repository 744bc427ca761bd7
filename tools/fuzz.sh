#!/usr/bin/env bash
# Build the libFuzzer targets in tests/fuzz/ with clang (ASan + UBSan) in build-fuzz/ and run each
# for a bounded time, seeded with ONNX's conformance models; prints "N passed, N failed".
#   tools/fuzz.sh [SECONDS]   per target (default 60); a crash leaves its input in build-fuzz/crashes/
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
BUILD=build-fuzz
command -v clang >/dev/null || { echo "fuzz: clang not installed (apt-get install clang)"; echo "0 passed, 1 failed"; exit 1; }
if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
    -Dc_args=-fsanitize=fuzzer-no-link >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$BUILD" lib/libvkdl_internal.a >/dev/null || { ninja -C "$BUILD" lib/libvkdl_internal.a; echo "0 passed, 1 failed"; exit 1; }
libs=$(pkg-config --libs vulkan libprotobuf-c libpng zlib openblas 2>/dev/null || echo "-lvulkan -lprotobuf-c -lpng -lz -lopenblas")
mkdir -p "$BUILD/crashes"
passed=0; failed=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I"$BUILD/include" "$src" \
    -Wl,--whole-archive "$BUILD/lib/libvkdl_internal.a" -Wl,--no-whole-archive $libs -lm -lpthread \
    -o "$BUILD/$name" || { failed=$((failed + 1)); continue; }
  corpus="$BUILD/corpus-$name"
  mkdir -p "$corpus"
  # Seeds: small real models from ONNX's backend tests (any readable ones when installed).
  if [ -d /usr/share/libonnx-testdata/data/node ] && [ -z "$(ls -A "$corpus")" ]; then
    find /usr/share/libonnx-testdata/data/node -name model.onnx -size -8k | head -300 |
      while read -r f; do cp "$f" "$corpus/$(echo "$f" | md5sum | cut -c1-16)"; done
  fi
  if ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$BUILD/$name" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=3072 -malloc_limit_mb=2600 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$BUILD/crashes/$name-" "$corpus" > "$BUILD/$name.log" 2>&1; then
    echo "ok   fuzz/$name ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/$name.log" | grep -o '[0-9]*$' || echo '?') runs, $SECONDS_PER_TARGET s)"
    passed=$((passed + 1))
  else
    echo "FAIL fuzz/$name: see $BUILD/$name.log"; tail -30 "$BUILD/$name.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
