#!/usr/bin/env bash
# Run the whole test suite with the Vulkan validation layer on, on every software driver present
# (lavapipe, and SwiftShader when chromium-common is installed) or on $VKDL_DEVICE's GPU, and
# print the total as "N passed, N failed, N skipped".
#   BUILD=dir   build directory (default: build; built first if needed)
#   VKDL_FUZZ_SECONDS=N   also run the libFuzzer targets (tools/fuzz.sh, clang) for N s each
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null || exit 1
ninja -C "$BUILD" >/dev/null || { ninja -C "$BUILD"; exit 1; }

declare -a names=() icds=()
if [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  names+=("as configured"); icds+=("${VK_ICD_FILENAMES:-${VK_DRIVER_FILES:-}}")
else
  for f in /usr/share/vulkan/icd.d/lvp_icd.*.json; do
    [ -f "$f" ] && { names+=("lavapipe"); icds+=("$f"); break; }
  done
  f=/usr/lib/chromium/vk_swiftshader_icd.json
  if [ -f "$f" ]; then names+=("swiftshader"); icds+=("$f")
  else echo "test: SwiftShader not installed (apt-get install chromium-common); testing lavapipe only"; fi
fi
[ ${#names[@]} -gt 0 ] || { echo "test: no Vulkan driver found (apt-get install mesa-vulkan-drivers)"; echo "0 passed, 1 failed"; exit 1; }

# A sanitizer build (meson -Db_sanitize=...) needs the driver and the validation layer kept loaded
# until exit, so LeakSanitizer can name (and tests/lsan.supp suppress) leaks inside them.
sanitize=$(meson introspect "$BUILD" --buildoptions 2>/dev/null |
  python3 -c 'import json,sys; print(next((o["value"] for o in json.load(sys.stdin) if o["name"]=="b_sanitize"), "none"))')
layer=$(ls /usr/lib/*/libVkLayer_khronos_validation.so 2>/dev/null | head -1)

total_p=0; total_f=0; total_s=0; rc=0
for i in "${!names[@]}"; do
  echo "== ${names[$i]}"
  san_env=()
  if [ "$sanitize" != "none" ]; then
    icd_lib=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ICD"]["library_path"])' "${icds[$i]}")
    # quarantine_size_mb: llvmpipe allocates each workgroup's shared memory page-aligned; ASan charges
    # the quarantine by requested size (tens of bytes) while each block pins a page or two, so the
    # default 256 MB quarantine grew past 20 GB in a 70001-row cross-entropy and was OOM-killed.
    # 8 MB still holds thousands of vkdl's freed blocks for use-after-free detection.
    san_env=(LD_PRELOAD="$icd_lib $layer"
             ASAN_OPTIONS="detect_leaks=1:verify_asan_link_order=0:abort_on_error=1:quarantine_size_mb=8"
             LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
  fi
  env "${san_env[@]}" VK_ICD_FILENAMES="${icds[$i]}" VK_DRIVER_FILES="${icds[$i]}" VKDL_VALIDATE=1 \
    meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@" > "$BUILD/test-${names[$i]// /-}.log" 2>&1 || rc=1
  grep -E "^ *[0-9]+/[0-9]+ " "$BUILD/test-${names[$i]// /-}.log" || true
  counts=$(python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, re, sys
p = f = s = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    m = None
    for l in t.get("stdout", "").splitlines():
        m = re.match(r"^(\d+) passed, (\d+) failed(?:, (\d+) (?:skipped|unsupported))?$", l) or m
    if m:
        p += int(m[1]); f += int(m[2]); s += int(m[3] or 0)
        if t.get("result") != "OK" and int(m[2]) == 0:
            f += 1   # crashed or timed out after printing its summary
    else:
        f += 1       # no summary: crashed or timed out
        print(f"  {t.get('name')}: no summary line ({t.get('result')})", file=sys.stderr)
print(p, f, s)
PY
)
  read -r p f s <<<"$counts"
  echo "   ${names[$i]}: $p passed, $f failed, $s skipped"
  total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
  [ "$f" -eq 0 ] || { rc=1; grep -E "^(FAIL|    )" "$BUILD/test-${names[$i]// /-}.log" | head -50; }
done
# VKDL_FUZZ_SECONDS=N (CI sets it) also builds the libFuzzer targets with clang and runs each for N s.
if [ "${VKDL_FUZZ_SECONDS:-0}" -gt 0 ]; then
  echo "== fuzz (${VKDL_FUZZ_SECONDS} s per target)"
  tools/fuzz.sh "$VKDL_FUZZ_SECONDS" > "$BUILD/fuzz.log" 2>&1 || rc=1
  grep -E "^(ok|FAIL) " "$BUILD/fuzz.log" || true
  read -r p _ f _ <<<"$(tail -n 1 "$BUILD/fuzz.log" | grep -E "^[0-9]+ passed, [0-9]+ failed$" || echo "0 passed, 1 failed")"
  [ "$f" -eq 0 ] || tail -n 40 "$BUILD/fuzz.log"
  total_p=$((total_p + p)); total_f=$((total_f + f))
fi
echo "$total_p passed, $total_f failed, $total_s skipped"
exit $rc
