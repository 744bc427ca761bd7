// ONNX Runtime's CPU latency for a model, the reference vkdl-bench onnx compares with in the same run.
// usage: node tools/ort-bench.js MODEL MIN_SECONDS NAME=DTYPE:DxDx... [...]
// Prints one JSON line: {"ort": "<version>", "threads": N, "load_ms": ..., "first_ms": ..., "runs": N,
// "median_ms": ..., "min_ms": ...}. Inputs are a seeded pattern (floats in [0, 1), integers 0), as
// vkdl-bench makes them. ONNX Runtime comes from npm (onnxruntime-node, installed by tools/setup.sh).
'use strict';
const path = require('path');
const ortDir = path.join(__dirname, '..', 'data', 'npm', 'node_modules', 'onnxruntime-node');
const ort = require(ortDir);

async function main() {
  const [model, minSeconds, ...specs] = process.argv.slice(2);
  if (!model || !minSeconds) {
    console.error('usage: node tools/ort-bench.js MODEL MIN_SECONDS NAME=DTYPE:DxDx...');
    process.exit(2);
  }
  const threads = parseInt(process.env.ORT_THREADS || '2', 10);
  const feeds = {};
  let state = 1n;
  for (const spec of specs) {
    const [name, rest] = spec.split('=');
    const [dtype, dims] = rest.split(':');
    const shape = dims === 'scalar' ? [] : dims.split('x').map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    let data;
    if (dtype === 'f32') {
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
        data[i] = Number(state >> 11n) / 9007199254740992;
      }
      feeds[name] = new ort.Tensor('float32', data, shape);
    } else if (dtype === 'i64') {
      feeds[name] = new ort.Tensor('int64', new BigInt64Array(n), shape);
    } else if (dtype === 'i32') {
      feeds[name] = new ort.Tensor('int32', new Int32Array(n), shape);
    } else {
      console.error(`ort-bench: input ${name}: dtype ${dtype} not handled`);
      process.exit(2);
    }
  }
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: threads, interOpNumThreads: 1,
                                                                        logSeverityLevel: 3});
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  await session.run(feeds);
  const firstMs = performance.now() - t1;
  const times = [];
  const deadline = performance.now() + parseFloat(minSeconds) * 1000;
  while (times.length < 3 || performance.now() < deadline) {
    const a = performance.now();
    await session.run(feeds);
    times.push(performance.now() - a);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ort: require(path.join(ortDir, 'package.json')).version, threads, load_ms: loadMs,
                              first_ms: firstMs, runs: times.length, median_ms: times[times.length >> 1],
                              min_ms: times[0]}));
}
main().catch((e) => { console.error(`ort-bench: ${e.message}`); process.exit(1); });
