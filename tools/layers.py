#!/usr/bin/env python3
"""Print who includes whom in lib/ and, given a build directory, who calls whom, by layer.

    tools/layers.py [BUILD]      e.g. tools/layers.py build

lib/ has five layers, each allowed to use only those below it: onnx -> io -> nn -> ops -> runtime.
An edge that points upward (or a file outside the four folders) is listed as a violation and
the exit status is 1. Call edges come from the objects' symbol tables (nm): a file that calls a
function defined in a file of a higher layer is a violation even if the headers hide it."""
import os
import re
import subprocess
import sys
from collections import defaultdict

LAYERS = ['runtime', 'ops', 'nn', 'io', 'onnx']
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
LIB = os.path.join(ROOT, 'lib')


def layer_of(rel):
    top = rel.split('/')[0]
    return LAYERS.index(top) if top in LAYERS else None


def lib_files():
    for d, _, names in os.walk(LIB):
        for n in sorted(names):
            if n.endswith(('.c', '.h')):
                yield os.path.relpath(os.path.join(d, n), LIB)


def include_edges():
    edges = defaultdict(set)
    for rel in lib_files():
        for line in open(os.path.join(LIB, rel)):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            inc = m.group(1)
            # Headers outside lib/ (vkdl.h, the generated shaders.h, shader interfaces) are not layers.
            if os.path.exists(os.path.join(LIB, inc)):
                edges[rel].add(inc)
            elif os.path.exists(os.path.join(LIB, os.path.dirname(rel), inc)):
                edges[rel].add(os.path.normpath(os.path.join(os.path.dirname(rel), inc)))
    return edges


def call_edges(build):
    """file -> {file it calls into}, from `nm` of each object of the static library."""
    objdir = None
    for d, _, names in os.walk(build):
        if d.endswith('libvkdl_internal.a.p'):
            objdir = d
            break
    if not objdir:
        sys.exit(f'layers: no libvkdl_internal.a.p under {build}: build first')
    defined, used = {}, defaultdict(set)
    for o in sorted(os.listdir(objdir)):
        if not o.endswith('.c.o') or o.startswith('meson-generated'):
            continue
        # meson names objects like runtime_sched.c.o
        top, _, rest = o[:-2].partition('_')
        rel = f'{top}/{rest}' if top in LAYERS else o[:-2]
        out = subprocess.run(['nm', os.path.join(objdir, o)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in 'TDBR':
                defined[parts[2]] = rel
            elif len(parts) == 2 and parts[0] == 'U':
                used[rel].add(parts[1])
    edges = defaultdict(set)
    for rel, syms in used.items():
        for s in syms:
            if s in defined and defined[s] != rel:
                edges[rel].add(defined[s])
    return edges


def report(title, edges):
    bad = []
    print(f'{title}:')
    for src in sorted(edges):
        dsts = sorted(edges[src])
        print(f'  {src} -> {", ".join(dsts)}')
        for d in dsts:
            ls, ld = layer_of(src), layer_of(d)
            if ls is None or ld is None or ld > ls:
                bad.append(f'{src} -> {d}')
    return bad


def main():
    bad = report('includes', include_edges())
    if len(sys.argv) > 1:
        bad += report('calls', call_edges(sys.argv[1]))
    # Folder-level summary: the edges between layers, which must all point down (or stay level).
    print('layers: ' + ' -> '.join(reversed(LAYERS)))
    if bad:
        print(f'{len(bad)} upward or unlayered edges:')
        for b in bad:
            print('  ' + b)
        return 1
    print('no upward edge')
    return 0


if __name__ == '__main__':
    sys.exit(main())
