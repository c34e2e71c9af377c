#!/usr/bin/env python3
"""Strict safetensors writer (BF16) and HF folder export for the testbed model; sha256 manifest.

    export.py finalize --run RUNDIR/step-NNNNN --tokenizer TOKDIR --out testbed/models/NAME
        copies model.safetensors and generation_config.json of the training run's final step, writes config.json
        (train.py's hf_config: max_position_embeddings = the training window) and the tokenizer files, then
        SHA256SUMS
    export.py sha256 --model DIR     writes DIR/SHA256SUMS (sha256 of every other file, sorted by name)

Writer: 8-byte little-endian header length, JSON header (keys sorted, no spaces, "__metadata__" first) padded
with spaces to a multiple of 8, then the tensors in header order, contiguous, little-endian. BF16 is rounded to
nearest even from float32 (NaN/Inf refused). Written to a temporary file, then renamed. No pickles anywhere.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np


def f32_to_bf16_bits(a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError("non-finite value in a tensor")
    u = a.view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest, ties to even
    return rounded.astype(np.uint16)


def write_safetensors_bf16(path, tensors, metadata=None):
    names = sorted(tensors)
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, off = [], 0
    for n in names:
        a = np.asarray(tensors[n])
        b = f32_to_bf16_bits(a).astype("<u2").tobytes()
        header[n] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(hj).to_bytes(8, "little"))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_hf_folder(out_dir, config, tensors, metadata=None):
    tmp = out_dir + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    meta = {"format": "pt"}
    meta.update(metadata or {})
    write_safetensors_bf16(os.path.join(tmp, "model.safetensors"), tensors, meta)
    with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(tmp, "generation_config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2}, f, indent=2)
        f.write("\n")
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def sha256_manifest(model_dir):
    lines = []
    for fn in sorted(os.listdir(model_dir)):
        p = os.path.join(model_dir, fn)
        if fn == "SHA256SUMS" or not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {fn}\n")
    with open(os.path.join(model_dir, "SHA256SUMS"), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
    sys.stdout.writelines(lines)


def finalize(run_step_dir, tok_dir, out_dir):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train  # noqa: E402  (torch import; only for the config)
    tmp = out_dir + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    for fn in ("model.safetensors", "generation_config.json"):
        shutil.copyfile(os.path.join(run_step_dir, fn), os.path.join(tmp, fn))
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok_dir, fn), os.path.join(tmp, fn))
    with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(train.hf_config(), f, indent=2)
        f.write("\n")
    sha256_manifest(tmp)
    # The old folder is moved aside, not deleted, until the new one is in place: a crash never leaves neither.
    old = out_dir + ".old"
    if os.path.exists(old):
        shutil.rmtree(old)
    if os.path.exists(out_dir):
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if os.path.exists(old):
        shutil.rmtree(old)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    fz = sub.add_parser("finalize")
    fz.add_argument("--run", required=True)
    fz.add_argument("--tokenizer", required=True)
    fz.add_argument("--out", required=True)
    s = sub.add_parser("sha256")
    s.add_argument("--model", required=True)
    args = ap.parse_args()
    if args.cmd == "sha256":
        sha256_manifest(args.model)
    elif args.cmd == "finalize":
        finalize(args.run, args.tokenizer, args.out)


if __name__ == "__main__":
    main()
