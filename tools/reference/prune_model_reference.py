#!/usr/bin/env python3
"""End-to-end reference of Copal's layer-sequential pruning of a LLaMA model, in float64 torch.

The per-matrix methods are pruning_reference.py's (magnitude, Wanda, SparseGPT as ALGORITHMS.md writes them);
this script adds what surrounds them (ALGORITHMS.md, "Calibration" and "Order"), written independently of the C#:

  * calibration: the text tokenized once with one BOS (llama_reference's SpBpe); window i starts at a PCG32 draw
    (the generator Copal names for its seeds: state 0, step, += seed, step; draw d -> (d * bound) >> 32) in
    [0, len - seqlen - 1], as the references' random.randint;
  * capture layer 0's inputs for all windows; per layer run the dense layer once collecting every linear's input
    statistics (per window: the sums over tokens, then folded as a running mean over windows), prune all its linears
    from the dense weights, rerun the pruned layer, whose outputs feed the next; with --true-sequential the
    statistics are re-collected before each of (q,k,v), (o), (gate,up), (down);
  * --layers: the other layers are copied, and run dense.

Writes OUT.npz (every pruned linear's weight as float32, and each linear's Hessian and Wanda scaler under
"H:<name>" / "S:<name>") and OUT.json (the calibration's SHA-256 over the int32 ids, as Copal's report gives it;
per linear the zeros and the reconstruction error; with --eval, the perplexity of the pruned model).

Usage: prune_model_reference.py --model DIR --calib FILE --method M --pattern P --out OUT
         [--nsamples 128] [--seqlen 512] [--seed 0] [--percdamp 0.01] [--true-sequential] [--layers 0,2]
         [--eval FILE --eval-seqlen 512 --eval-limit K]
"""
import argparse
import base64
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as lr  # noqa: E402
import pruning_reference as pr  # noqa: E402

LINEARS = ["q", "k", "v", "o", "gate", "up", "down"]
HF_NAMES = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
            "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
# The linears that read the same input share its statistics.
INPUT_OF = {"q": "qkv", "k": "qkv", "v": "qkv", "o": "o", "gate": "gateup", "up": "gateup", "down": "down"}
SEQUENTIAL_GROUPS = [["q", "k", "v"], ["o"], ["gate", "up"], ["down"]]
MASK64 = (1 << 64) - 1


class Pcg32:
    def __init__(self, seed):
        self.state = 0
        self.next()
        self.state = (self.state + seed) & MASK64
        self.next()

    def next(self):
        old = self.state
        self.state = (old * 6364136223846793005 + 1442695040888963407) & MASK64
        xs = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((-rot) & 31))) & 0xFFFFFFFF

    def next_int(self, bound):
        return (self.next() * bound) >> 32


def calibration(tok, path, nsamples, seqlen, seed):
    with open(path, encoding="utf-8") as f:
        ids = tok.encode(f.read())
    rng = Pcg32(seed)
    windows = []
    for _ in range(nsamples):
        start = rng.next_int(len(ids) - seqlen)
        windows.append(ids[start:start + seqlen])
    digest = hashlib.sha256(np.asarray(windows, dtype="<i4").tobytes()).hexdigest()
    return windows, digest


def layer_forward(m, L, h, taps=None):
    """One plain LLaMA decoder layer on h [B, T, D]; taps[name] receives each linear's input [B, T, in]."""
    B, T, _ = h.shape
    hd, nh, nkv = m.head_dim, m.n_heads, m.n_kv
    cos, sin = m.rope(torch.arange(T))
    x = m.rmsnorm(h, L["in_norm"])
    if taps is not None:
        taps["qkv"] = x
    q = (x @ L["q"].t()).view(B, T, nh, hd).transpose(1, 2)
    k = (x @ L["k"].t()).view(B, T, nkv, hd).transpose(1, 2)
    v = (x @ L["v"].t()).view(B, T, nkv, hd).transpose(1, 2)
    q = q * cos + lr.rotate_half(q) * sin
    k = k * cos + lr.rotate_half(k) * sin
    rep = nh // nkv
    k = k[:, :, None].expand(B, nkv, rep, T, hd).reshape(B, nh, T, hd)
    v = v[:, :, None].expand(B, nkv, rep, T, hd).reshape(B, nh, T, hd)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    causal = torch.arange(T)[None, :] > torch.arange(T)[:, None]
    probs = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
    a = (probs @ v).transpose(1, 2).reshape(B, T, nh * hd)
    if taps is not None:
        taps["o"] = a
    h = h + a @ L["o"].t()
    x = m.rmsnorm(h, L["post_norm"])
    if taps is not None:
        taps["gateup"] = x
    act = torch.nn.functional.silu(x @ L["gate"].t()) * (x @ L["up"].t())
    if taps is not None:
        taps["down"] = act
    return h + act @ L["down"].t()


def run_layer(m, L, acts, taps_wanted=None, batch=16):
    """Runs the layer over every window; returns the outputs and, per wanted input, (scaler, H) folded over windows."""
    outs, stats = [], {}
    for b0 in range(0, acts.shape[0], batch):
        taps = {}
        outs.append(layer_forward(m, L, acts[b0:b0 + batch], taps))
        for name in taps_wanted or []:
            x = taps[name].numpy()
            scaler, H, n = stats.get(name, (None, None, 0))
            for s in range(x.shape[0]):  # one window at a time: mean <- mean * n/(n+1) + sum/(n+1)
                xs = x[s]
                sq, G = (xs * xs).sum(0), xs.T @ xs
                if scaler is None:
                    scaler, H = np.zeros_like(sq), np.zeros_like(G)
                scaler = scaler * (n / (n + 1)) + sq / (n + 1)
                H = H * (n / (n + 1)) + (2.0 / (n + 1)) * G
                n += 1
            stats[name] = (scaler, H, n)
    return torch.cat(outs), stats


def score_margin(scores, pattern):
    """The smallest relative gap between the highest pruned and the lowest kept score of a comparison group (a row for
    Wanda, the matrix for magnitude, a group of M for N:M), exact ties left out: how far the mask is from a near-tie
    that rounding could flip."""
    kind = pr.parse(pattern)
    if kind[0] == "nm":
        groups = np.sort(scores.reshape(scores.shape[0], -1, kind[2]), axis=-1).reshape(-1, kind[2])
        low, high = groups[:, kind[1] - 1], groups[:, kind[1]]
    else:
        groups = np.sort(scores, axis=-1) if scores.ndim == 2 else np.sort(scores.reshape(1, -1), axis=-1)
        k = int(groups.shape[1] * kind[1])
        if k == 0:
            return None
        low, high = groups[:, k - 1], groups[:, k]
    gap = (high - low)[high > low] / high[high > low]
    return float(gap.min()) if gap.size else None


def reconstruction_error(W0, W1, H):
    """pruning_reference's, with 0 where the input is always zero (H = 0: no output to change), as Copal reports it."""
    if not H.any():
        return 0.0
    return pr.reconstruction_error(W0, W1, H)


def to_stored(W, dtype):
    """W (float64) rounded to float32, then to the checkpoint's dtype (BF16 and F16 to nearest, ties to even), as
    ALGORITHMS.md's "weights go back to the stored dtype" and Copal's writer (f64 -> f32 -> stored) do."""
    f = W.astype(np.float32)
    if dtype == "BF16":
        bits = f.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        f = lr.bf16_to_f32(bits.astype(np.uint16))
    elif dtype == "F16":
        f = f.astype(np.float16).astype(np.float32)
    return f.astype(np.float64)


def stored_dtypes(model_dir):
    """{tensor name: safetensors dtype} over every *.safetensors file of the folder."""
    out = {}
    for f in sorted(os.listdir(model_dir)):
        if f.endswith(".safetensors"):
            out.update({k: v[0] for k, v in lr.read_safetensors(os.path.join(model_dir, f)).items()})
    return out


def prune_one(method, W, scaler, H, pattern, percdamp, dtype="F32"):
    W = W.numpy()
    if method == "magnitude":
        mask = pr.magnitude(W, pattern)
        Wn = np.where(mask, 0.0, W)
    elif method == "wanda":
        mask = pr.wanda(W, scaler, pattern)
        Wn = np.where(mask, 0.0, W)
    else:
        Wn, mask, _, _ = pr.sparsegpt(W, H, pattern, percdamp=percdamp)
    # Back to the stored dtype, as the engines write the model (a BF16 model's next layer sees BF16 weights).
    return torch.tensor(to_stored(Wn, dtype))


def perplexity(m, path, seqlen, limit):
    with open(path, encoding="utf-8") as f:
        ids = m.tok.encode(f.read())
    n = len(ids) // seqlen
    if limit:
        n = min(n, limit)
    total = sum(lr.nll_of_window(m, ids[w * seqlen:(w + 1) * seqlen]) for w in range(n))
    mean = total / (n * (seqlen - 1))
    return {"windows": n, "nll_mean": mean, "ppl": math.exp(mean)}


def write_golden(a, report, arrays):
    """What the C# test compares: per pruned linear its mask (np.packbits, little bit order, row-major, base64), the
    reconstruction error, and the sum and sum of squares of the pruned float32 weights in double (SparseGPT's update)."""
    linears = {}
    for name, entry in report["linears"].items():
        w = arrays[name]
        mask = np.packbits((w == 0).reshape(-1), bitorder="little")
        linears[name] = {"zeros": entry["zeros"], "mask_bits": base64.b64encode(mask.tobytes()).decode("ascii"),
                         "reconstruction_error": entry["reconstruction_error"],
                         "sum": float(w.astype(np.float64).sum()), "sum_squares": float((w.astype(np.float64) ** 2).sum())}
    golden = {"method": a.method, "pattern": a.pattern, "nsamples": a.nsamples, "seqlen": a.seqlen, "seed": a.seed,
              "true_sequential": a.true_sequential, "layers": a.layers, "calibration_hash": report["calibration_hash"],
              "linears": linears}
    with open(a.golden, "w") as f:
        json.dump(golden, f, indent=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--calib", required=True)
    p.add_argument("--method", choices=["magnitude", "wanda", "sparsegpt"], required=True)
    p.add_argument("--pattern", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--nsamples", type=int, default=128)
    p.add_argument("--seqlen", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--percdamp", type=float, default=0.01)
    p.add_argument("--true-sequential", action="store_true")
    p.add_argument("--layers", default=None)
    p.add_argument("--eval", default=None)
    p.add_argument("--eval-seqlen", type=int, default=512)
    p.add_argument("--eval-limit", type=int, default=0)
    p.add_argument("--golden", default=None, help="also write this JSON for tests/Copal.Prune.Tests (masks, errors, sums)")
    a = p.parse_args()

    m = lr.Llama(a.model, dtype=torch.float64)
    m.tok = lr.SpBpe(os.path.join(a.model, "tokenizer.json"))
    windows, digest = calibration(m.tok, a.calib, a.nsamples, a.seqlen, a.seed)
    dtypes = stored_dtypes(a.model)
    selected = set(range(m.n_layers)) if a.layers is None else {int(x) for x in a.layers.split(",")}
    acts = m.embed[torch.tensor(windows, dtype=torch.long)]
    arrays, report = {}, {"calibration_hash": digest, "linears": {}}
    for li, L in enumerate(m.layers):
        if li not in selected:
            acts, _ = run_layer(m, L, acts)
            continue
        dense = {n: L[n] for n in LINEARS}
        groups = SEQUENTIAL_GROUPS if a.true_sequential else [LINEARS]
        for group in groups:
            _, stats = run_layer(m, L, acts, sorted({INPUT_OF[n] for n in group}))
            for n in group:
                scaler, H, _ = stats[INPUT_OF[n]]
                W0 = dense[n]
                name = f"model.layers.{li}.{HF_NAMES[n]}.weight"
                W1 = prune_one(a.method, W0, scaler, H, a.pattern, a.percdamp, dtypes[name])
                arrays[name] = W1.numpy().astype(np.float32)
                arrays["H:" + name] = H
                arrays["S:" + name] = scaler
                scores = None
                if a.method == "wanda":
                    scores = np.abs(W0.numpy()) * np.sqrt(scaler)[None, :]
                elif a.method == "magnitude":
                    scores = np.abs(W0.numpy())
                    scores = scores.reshape(1, -1) if pr.parse(a.pattern)[0] == "u" else scores
                report["linears"][name] = {"zeros": int((W1 == 0).sum()), "total": int(W1.numel()),
                                           "score_margin": None if scores is None else score_margin(scores, a.pattern),
                                           "reconstruction_error": reconstruction_error(W0.numpy(), W1.numpy(), H)}
            for n in group:
                L[n] = torch.tensor(arrays[f"model.layers.{li}.{HF_NAMES[n]}.weight"].astype(np.float64))
        acts, _ = run_layer(m, L, acts)
    if a.eval:
        report["perplexity"] = perplexity(m, a.eval, a.eval_seqlen, a.eval_limit)
    if a.golden:
        write_golden(a, report, arrays)
    np.savez(a.out + ".npz", **arrays)
    with open(a.out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "linears"}))


if __name__ == "__main__":
    main()
