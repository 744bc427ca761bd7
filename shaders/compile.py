#!/usr/bin/env python3
"""Compile one GLSL compute shader variant to SPIR-V (glslc or glslangValidator), then spirv-val it."""
import argparse
import os
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument('--compiler', required=True)
ap.add_argument('--out', required=True)
ap.add_argument('--dep', required=True)
ap.add_argument('--val')
ap.add_argument('src')
args, defines = ap.parse_known_args()

inc = os.path.dirname(os.path.abspath(args.src))
if os.path.basename(args.compiler).startswith('glslc'):
    cmd = [args.compiler, '-fshader-stage=compute', '--target-env=vulkan1.2', '-O', '-I', inc,
           '-MD', '-MF', args.dep, '-o', args.out, args.src] + defines
else:
    cmd = [args.compiler, '-V', '-S', 'comp', '--target-env', 'vulkan1.2', '-I' + inc,
           '--depfile', args.dep, '-o', args.out, args.src] + defines
r = subprocess.run(cmd)
if r.returncode != 0:
    sys.exit(r.returncode)
if args.val:
    r = subprocess.run([args.val, '--target-env', 'vulkan1.2', args.out])
    if r.returncode != 0:
        os.remove(args.out)
        sys.exit(r.returncode)
