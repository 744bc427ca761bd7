#!/usr/bin/env node
// ort-compare: runs an ONNX model through ONNX Runtime (the CPU build of the npm package that
// tools/setup.sh installs into data/npm) on inputs from .npy files, and compares its outputs with
// vkdl's, as `vkdl-run MODEL --input NAME=FILE.npy --output DIR` writes them (DIR/<output>.npy, f32).
// usage: node tools/ort-compare.js MODEL.onnx --input NAME=FILE.npy... --vkdl DIR [--tol T]
//                                  [--ort-out DIR] [--ctc KEYS.txt]
// Prints per output the max abs error, the max relative error (|a - b| / max(|b|, 1e-6)) and the
// worst element, and exits 1 when some element is off by more than T * (1 + |ort|) (default 1e-3).
// --ort-out writes ONNX Runtime's outputs there as .npy too. --ctc decodes a recognition output
// [N,T,C] (PP-OCR: class 0 CTC's blank, class i line i of KEYS.txt, the last one a space) from
// both sides by greedy CTC and prints the text of each, with the mean probability of its
// characters, as "ort: TEXT (SCORE)" and "vkdl: TEXT (SCORE)".
'use strict';
const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '..');
const ort = require(path.join(repo, 'data/npm/node_modules/onnxruntime-node'));

const dtypes = {'<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
                '<i4': ['int32', Int32Array], '|u1': ['uint8', Uint8Array], '|b1': ['bool', Uint8Array],
                '|i1': ['int8', Int8Array], '<i2': ['int16', Int16Array], '<u2': ['uint16', Uint16Array]};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY')
    throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: unsupported header ${header.trim()}`);
  const kind = dtypes[descr[1]];
  if (!kind)
    throw new Error(`${file}: unsupported dtype ${descr[1]}`);
  const dims = shape[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const body = buf.subarray(start + hlen);
  if (body.length !== n * kind[1].BYTES_PER_ELEMENT)
    throw new Error(`${file}: ${body.length} bytes of data for shape (${dims})`);
  const data = new kind[1](n);
  new Uint8Array(data.buffer).set(body);
  return {type: kind[0], data, dims};
}

function writeNpy(file, data, dims) {
  const shape = dims.join(', ') + (dims.length === 1 ? ',' : '');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }`;
  header += ' '.repeat(63 - ((header.length + 10) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const f32 = Float32Array.from(data, Number);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(f32.buffer)]));
}

// Greedy CTC over [N,T,C] probabilities: the text and mean character probability of each row.
function ctcDecode(data, dims, keys) {
  const [n, steps, classes] = dims;
  if (dims.length !== 3 || classes !== keys.length + 2)
    throw new Error(`--ctc: output (${dims}) is not [N,T,${keys.length + 2}]`);
  const rows = [];
  for (let b = 0; b < n; b++) {
    let text = '', sum = 0, chars = 0, prev = 0;
    for (let t = 0; t < steps; t++) {
      const o = (b * steps + t) * classes;
      let best = 0;
      for (let c = 1; c < classes; c++)
        if (data[o + c] > data[o + best])
          best = c;
      if (best !== 0 && best !== prev) {
        text += best <= keys.length ? keys[best - 1] : ' ';
        sum += data[o + best];
        chars++;
      }
      prev = best;
    }
    rows.push({text, score: chars ? sum / chars : 0});
  }
  return rows;
}

function usage() {
  console.error('usage: node tools/ort-compare.js MODEL.onnx --input NAME=FILE.npy... --vkdl DIR [--tol T] ' +
                '[--ort-out DIR] [--ctc KEYS.txt]');
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  const inputs = {};
  let model = null, vkdlDir = null, ortOut = null, ctc = null, tol = 1e-3;
  for (let i = 0; i < args.length; i++) {
    const a = args[i], value = () => (i + 1 < args.length ? args[++i] : usage());
    if (a === '--input') {
      const v = value(), eq = v.indexOf('=');
      if (eq <= 0)
        usage();
      inputs[v.slice(0, eq)] = v.slice(eq + 1);
    } else if (a === '--vkdl') {
      vkdlDir = value();
    } else if (a === '--ort-out') {
      ortOut = value();
    } else if (a === '--ctc') {
      ctc = value();
    } else if (a === '--tol') {
      tol = Number(value());
      if (!(tol >= 0))
        usage();
    } else if (!a.startsWith('--') && !model) {
      model = a;
    } else {
      usage();
    }
  }
  if (!model || (!vkdlDir && !ortOut))
    usage();

  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 2, interOpNumThreads: 1});
  const feeds = {};
  for (const name of session.inputNames) {
    if (!inputs[name])
      throw new Error(`${model}: input '${name}' needs --input ${name}=FILE.npy`);
    const x = readNpy(inputs[name]);
    feeds[name] = new ort.Tensor(x.type, x.data, x.dims);
  }
  const t0 = process.hrtime.bigint();
  const results = await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`${path.basename(model)}: ONNX Runtime ran in ${ms.toFixed(0)} ms`);
  const keys = ctc ? fs.readFileSync(ctc, 'utf8').split('\n').map(l => l.replace(/\r$/, '')) : null;
  if (keys && keys[keys.length - 1] === '')
    keys.pop();
  let bad = false;
  for (const name of session.outputNames) {
    const o = results[name];
    if (ortOut) {
      fs.mkdirSync(ortOut, {recursive: true});
      writeNpy(path.join(ortOut, `${name}.npy`), o.data, o.dims);
    }
    if (!vkdlDir)
      continue;
    const v = readNpy(path.join(vkdlDir, `${name}.npy`));
    if (v.dims.join(',') !== o.dims.join(',')) {
      console.log(`output '${name}': shapes differ: vkdl (${v.dims}), ONNX Runtime (${o.dims})`);
      bad = true;
      continue;
    }
    let maxAbs = 0, maxRel = 0, worst = -1, worstExcess = 0;
    for (let i = 0; i < o.data.length; i++) {
      const ref = Number(o.data[i]), diff = Math.abs(Number(v.data[i]) - ref);
      const err = Number.isNaN(diff) ? Infinity : diff; // a NaN on either side is as wrong as can be
      maxAbs = Math.max(maxAbs, err);
      maxRel = Math.max(maxRel, err / Math.max(Math.abs(ref), 1e-6));
      const excess = err / (1 + Math.abs(ref));
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
    const over = worstExcess > tol;
    bad = bad || over;
    console.log(`output '${name}' (${o.dims}): max abs error ${maxAbs.toExponential(3)}, ` +
                `max rel error ${maxRel.toExponential(3)}` +
                (worst >= 0 ? `, worst at ${worst}: vkdl ${v.data[worst]} ort ${o.data[worst]}` : '') +
                (over ? ` BEYOND tolerance ${tol}` : ''));
    if (keys) {
      const a = ctcDecode(o.data, o.dims, keys), b = ctcDecode(v.data, v.dims, keys);
      for (let r = 0; r < a.length; r++) {
        console.log(`ort: ${a[r].text} (${a[r].score.toFixed(4)})`);
        console.log(`vkdl: ${b[r].text} (${b[r].score.toFixed(4)})`);
      }
    }
  }
  if (ctc && !vkdlDir)
    for (const name of session.outputNames)
      for (const r of ctcDecode(results[name].data, results[name].dims, keys))
        console.log(`ort: ${r.text} (${r.score.toFixed(4)})`);
  process.exit(bad ? 1 : 0);
}

main().catch(e => {
  console.error(`ort-compare: ${e.message}`);
  process.exit(1);
});
