#!/usr/bin/env python3
"""Compares a model folder pruned by `copal prune --json` with prune_model_reference.py's output, linear by linear.

Usage: compare_pruned.py --copal DIR --report prune.json --reference OUT --dense DENSE_DIR [--method wanda]

Prints per linear: mask mismatches (entries zero on one side only), zeros on each side, the largest absolute weight
difference, both reconstruction errors and their relative difference; and for Wanda, where masks differ, the relative
spread of the dense scores |W|·sqrt(scaler) of the mismatched entries of a row (a near-tie shows as a tiny spread).
The last line sums it up.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as lr  # noqa: E402


def load(folder):
    tensors = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            # BF16 comes back as raw bits: widen it, or every comparison below reads the bits as numbers.
            tensors.update({k: lr.bf16_to_f32(v[1]) if v[0] == "BF16" else v[1]
                            for k, v in lr.read_safetensors(os.path.join(folder, f)).items()})
    return tensors


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--copal", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--dense", required=True)
    p.add_argument("--method", default="")
    a = p.parse_args()
    copal, dense = load(a.copal), load(a.dense)
    ref = np.load(a.reference + ".npz")
    with open(a.reference + ".json") as f:
        ref_report = json.load(f)
    with open(a.report) as f:
        copal_errors = {l["name"]: l["reconstruction_error"] for layer in json.load(f)["layers"] for l in layer["linears"]}
    mismatches = total = 0
    max_abs = max_rel_error = max_spread = 0.0
    for name in sorted(k for k in ref.files if not k.startswith(("H:", "S:"))):
        c, r = np.asarray(copal[name], dtype=np.float32), ref[name]
        mc, mr = c == 0, r == 0
        mis = int((mc != mr).sum())
        mismatches += mis
        total += mc.size
        d = float(np.abs(c.astype(np.float64) - r).max())
        max_abs = max(max_abs, d)
        e_r, e_c = ref_report["linears"][name]["reconstruction_error"], copal_errors.get(name)
        rel = abs(e_c - e_r) / e_r if e_c is not None and e_r else None
        max_rel_error = max(max_rel_error, rel or 0.0)
        note = ""
        if mis and a.method == "wanda":
            scores = np.abs(np.asarray(dense[name], dtype=np.float64)) * np.sqrt(ref["S:" + name])[None, :]
            for row in np.nonzero((mc != mr).any(1))[0]:
                s = scores[row][mc[row] != mr[row]]
                max_spread = max(max_spread, float((s.max() - s.min()) / s.max()))
            note = f" score spread {max_spread:.2g}"
        err_c = "none" if e_c is None else f"{e_c:.8f}"
        err_rel = "" if rel is None else f" ({rel:.1e})"
        print(f"{name:42s} mismatches {mis:4d}/{mc.size:5d}  zeros {int(mc.sum())}/{int(mr.sum())}  max|dW| {d:.2e}  "
              f"error {err_c}/{e_r:.8f}{err_rel}{note}")
    print(f"total: {mismatches} of {total} mask entries differ; max |dW| {max_abs:.3g}; "
          f"max relative reconstruction-error difference {max_rel_error:.3g}"
          + (f"; max score spread of a mismatch {max_spread:.3g}" if a.method == "wanda" else ""))


if __name__ == "__main__":
    main()
