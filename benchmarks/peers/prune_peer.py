#!/usr/bin/python3
"""Times one decoder layer's pruning steps the way the published Wanda and SparseGPT scripts do them, in PyTorch
float32, on TinyLlama-1.1B's linear shapes and random calibration activations of the same size.

Written from the papers and the conventions in ALGORITHMS.md, step by step:
- SparseGPT: per linear, H = 2/n Σ xxᵀ as a running mean over windows (one GEMM per window); dead inputs and
  dampening; U = the upper Cholesky factor of H⁻¹ through cholesky, cholesky_inverse and an upper cholesky; the
  column sweep in blocks of 128 with the block's mask (unstructured: every saliency at or below the one at sorted
  index ⌊numel·s⌋; N:M: each row's N lowest of every M columns, on the updated weights), the in-block rank-1
  updates and the lazy update of the later columns as one GEMM per block.
- Wanda: per linear, the running mean of the input's squared column norms; scores |W|·√scaler; per output row the
  ⌊cols·s⌋ lowest (a stable sort), or per group of M the N lowest.

It prints one JSON object of seconds per step (wall clock, and the process's CPU seconds under "cpu") (see `benchmarks/peers/prune_side_by_side.py`, which interleaves it
with Copal's `probe prune-steps`). The reference scripts keep one set of statistics and one factor per linear, so
q/k/v (and gate/up) accumulate and factor the same input each; the keys here are per input width, and the layer
totals count them the reference's way.
"""

import argparse
import json
import math
import time

import torch

# TinyLlama-1.1B: hidden 2048, MLP 5632, 32 query heads over 4 KV heads of 64.
LINEARS = [
    ("q_proj", 2048, 2048), ("k_proj", 256, 2048), ("v_proj", 256, 2048), ("o_proj", 2048, 2048),
    ("gate_proj", 5632, 2048), ("up_proj", 5632, 2048), ("down_proj", 2048, 5632),
]
BLOCK = 128
PERCENT_DAMP = 0.01


def windows(cols, nsamples, seqlen, seed):
    """Random activations, one [seqlen, cols] window at a time (made outside the timed parts)."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(nsamples):
        yield torch.randn(seqlen, cols, generator=gen)


def accumulate_hessian(cols, nsamples, seqlen, seed):
    """SparseGPT's statistic: H = (2/n)·Σ XᵀX as a running mean over windows, f32. Returns (H, seconds)."""
    h = torch.zeros(cols, cols)
    seen = 0
    spent = Clock()
    for x in windows(cols, nsamples, seqlen, seed):
        with spent:
            h *= seen / (seen + 1)
            seen += 1
            xt = math.sqrt(2 / seen) * x.t()
            h += xt.matmul(xt.t())
    return h, spent


def accumulate_scaler(cols, nsamples, seqlen, seed):
    """Wanda's statistic: the running mean over windows of each input column's squared norm. Returns (scaler, seconds)."""
    scaler = torch.zeros(cols)
    seen = 0
    spent = Clock()
    for x in windows(cols, nsamples, seqlen, seed):
        with spent:
            scaler *= seen / (seen + 1)
            seen += 1
            scaler += torch.norm(x.t(), p=2, dim=1) ** 2 / seen
    return scaler, spent


def inverse_factor(h):
    """Dead inputs, dampening and U = chol(H⁻¹)ᵀ, on a copy of H. Returns (U, dead)."""
    h = h.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    damp = PERCENT_DAMP * torch.mean(torch.diag(h))
    idx = torch.arange(h.shape[0])
    h[idx, idx] += damp
    lower = torch.linalg.cholesky(h)
    inverse = torch.cholesky_inverse(lower)
    return torch.linalg.cholesky(inverse, upper=True), dead


def sweep(w, u, dead, pattern):
    """SparseGPT's blocked column sweep on w [rows, cols] (in place). pattern: a ratio or (n, m)."""
    rows, cols = w.shape
    w[:, dead] = 0
    for i1 in range(0, cols, BLOCK):
        i2 = min(i1 + BLOCK, cols)
        count = i2 - i1
        w1 = w[:, i1:i2].clone()
        q1 = torch.zeros_like(w1)
        err1 = torch.zeros_like(w1)
        u1 = u[i1:i2, i1:i2]
        diag = torch.diag(u1)
        if isinstance(pattern, tuple):
            mask1 = torch.zeros_like(w1, dtype=torch.bool)
        else:
            saliency = w1 ** 2 / diag.reshape(1, -1) ** 2
            threshold = torch.sort(saliency.flatten())[0][int(saliency.numel() * pattern)]
            mask1 = saliency <= threshold
        for i in range(count):
            col = w1[:, i]
            d = u1[i, i]
            if isinstance(pattern, tuple):
                n, m = pattern
                if i % m == 0:
                    group = w1[:, i:i + m] ** 2 / diag[i:i + m].reshape(1, -1) ** 2
                    mask1.scatter_(1, i + torch.topk(group, n, dim=1, largest=False)[1], True)
            q = col.clone()
            q[mask1[:, i]] = 0
            q1[:, i] = q
            e = (col - q) / d
            w1[:, i:] -= e.unsqueeze(1).matmul(u1[i, i:].unsqueeze(0))
            err1[:, i] = e
        w[:, i1:i2] = q1
        w[:, i2:] -= err1.matmul(u[i1:i2, i2:])


def wanda(w, scaler, pattern):
    """Wanda's scores and per-row selection on w [rows, cols] (in place)."""
    score = torch.abs(w) * torch.sqrt(scaler.reshape(1, -1))
    mask = torch.zeros_like(score, dtype=torch.bool)
    if isinstance(pattern, tuple):
        n, m = pattern
        for g in range(0, score.shape[1], m):
            group = score[:, g:g + m].float()
            mask.scatter_(1, g + torch.topk(group, n, dim=1, largest=False)[1], True)
    else:
        order = torch.sort(score, dim=-1, stable=True)[1]
        mask.scatter_(1, order[:, :int(score.shape[1] * pattern)], True)
    w[mask] = 0


class Clock:
    """Wall and process CPU seconds (all threads: torch's OpenMP pool and OpenBLAS's) summed over the `with` blocks.
    On a machine shared past its cores the wall clock measures the queue; the CPU seconds are the work."""

    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu
        return False


def timed_value(fn, *args):
    clock = Clock()
    with clock:
        value = fn(*args)
    return value, clock


def timed(fn, *args):
    clock = Clock()
    with clock:
        fn(*args)
    return clock


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=["sparsegpt", "wanda"], required=True)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--pattern", help="N:M instead of --sparsity, e.g. 2:4")
    parser.add_argument("--nsamples", type=int, default=32)
    parser.add_argument("--seqlen", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pattern = tuple(int(v) for v in args.pattern.split(":")) if args.pattern else args.sparsity
    gen = torch.Generator().manual_seed(args.seed + 1)
    steps = {}
    widths = sorted({cols for _, _, cols in LINEARS})
    if args.method == "sparsegpt":
        factors = {}
        for cols in widths:
            h, steps[f"hessian {cols}"] = accumulate_hessian(cols, args.nsamples, args.seqlen, args.seed)
            factors[cols], steps[f"factor {cols}"] = timed_value(inverse_factor, h)
            del h
        for name, rows, cols in LINEARS:
            w = torch.rand(rows, cols, generator=gen) - 0.5
            u, dead = factors[cols]
            steps[f"sweep {name}"] = timed(sweep, w, u, dead, pattern)
        per_linear = ["hessian", "factor"]
    else:
        scalers = {}
        for cols in widths:
            scalers[cols], steps[f"statistics {cols}"] = accumulate_scaler(cols, args.nsamples, args.seqlen, args.seed)
        for name, rows, cols in LINEARS:
            w = torch.rand(rows, cols, generator=gen) - 0.5
            steps[f"select {name}"] = timed(wanda, w, scalers[cols], pattern)
        per_linear = ["statistics"]
    # The layer as the reference runs it: every linear keeps (and factors) its own statistics.
    seconds, cpu = {k: v.wall for k, v in steps.items()}, {k: v.cpu for k, v in steps.items()}
    for totals in (seconds, cpu):
        totals["layer"] = sum(totals[f"{kind} {cols}"] for kind in per_linear for _, _, cols in LINEARS) + \
            sum(v for k, v in totals.items() if k.startswith(("sweep ", "select ")))
    print(json.dumps({"engine": "torch", "torch": torch.__version__, "threads": args.threads, "method": args.method,
                      "pattern": args.pattern or args.sparsity, "seconds": seconds, "cpu": cpu}))


if __name__ == "__main__":
    main()
