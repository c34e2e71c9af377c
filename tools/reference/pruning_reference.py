#!/usr/bin/env python3
"""Reference implementations of magnitude, Wanda and SparseGPT pruning in numpy float64, and the golden files
that tests/Copal.Prune.Tests checks Copal against.

Written from the published algorithms (Wanda: Sun et al. 2023; SparseGPT: Frantar & Alistarh 2023) and the
conventions in the project's ALGORITHMS.md, as plain loops that read like the papers. Two deliberate choices,
the same as Copal's:
  * magnitude's and Wanda's comparison groups prune exactly floor(size * s) entries, ties to the lower (row-major)
    index, i.e. a stable sort; magnitude's original "prune everything <= the value at sorted index floor(size*s)"
    rule is kept as `mask_le` for the record (it prunes one more entry when there are no ties). SparseGPT's
    unstructured blocks follow its reference's rule, everything <= the value at sorted index floor(size*s), as
    ALGORITHMS.md fixes it; the exact-count mask's size is kept as `pruned_exact` for the record;
  * a Cholesky pivot fails unless it exceeds 1e-12 of its diagonal entry (LAPACK only rejects <= 0), and a
    failure retries with dampening max(percdamp, 0.01) * 10**k, k = 1, 2, ...

Statistics are folded per sequence exactly as Copal's InputStatistics does (and as the references do, in
float64): mean <- mean * (n/(n+1)) + sum/(n+1) for Wanda's scaler, + (2/(n+1)) * gram for the Hessian, with the
per-sequence sums accumulated token by token.

Usage: python3 tools/reference/pruning_reference.py [output-folder]   (default: tests/Copal.Prune.Tests/Golden)
Arrays are stored as base64 of little-endian float32 (inputs) / float64 (SparseGPT weights) to keep files small
and exact; masks as strings of '0'/'1' in row-major order.
"""
import base64
import json
import math
import os
import sys

import numpy as np

PIVOT_TOL = 1e-12
PATTERNS = ["0.5", "0.7", "2:4"]


# ---------------------------------------------------------------- statistics
def fold_statistics(sequences, cols):
    """sequences: list of float32 arrays [tokens, cols]. Returns (scaler, H, nseq)."""
    scaler = np.zeros(cols)
    H = np.zeros((cols, cols))
    n = 0
    for x in sequences:
        x64 = x.astype(np.float64)
        sq = np.zeros(cols)
        G = np.zeros((cols, cols))
        for t in range(x64.shape[0]):  # token by token: the summation order Copal uses
            sq += x64[t] * x64[t]
            G += np.outer(x64[t], x64[t])
        keep = n / (n + 1)
        scaler = scaler * keep + sq / (n + 1)
        H = H * keep + (2.0 / (n + 1)) * G
        n += 1
    return scaler, H, n


# ---------------------------------------------------------------- selection
def parse(pattern):
    if ":" in pattern:
        a, b = pattern.split(":")
        return ("nm", int(a), int(b))
    return ("u", float(pattern))


def lowest_exact(scores_flat, count):
    """Mask of exactly `count` lowest scores, ties to the lower index (stable sort)."""
    mask = np.zeros(scores_flat.shape[0], dtype=bool)
    if count > 0:
        mask[np.argsort(scores_flat, kind="stable")[:count]] = True
    return mask


def lowest_le(scores_flat, count):
    """The original rule: everything <= the value at sorted index `count`."""
    thresh = np.sort(scores_flat)[count]
    return scores_flat <= thresh


def nm_mask(scores, n, m):
    rows, cols = scores.shape
    mask = np.zeros((rows, cols), dtype=bool)
    for r in range(rows):
        for g in range(0, cols, m):
            idx = np.argsort(scores[r, g:g + m], kind="stable")[:n]
            mask[r, g + idx] = True
    return mask


# ---------------------------------------------------------------- methods
def magnitude(W, pattern, le=False):
    kind = parse(pattern)
    S = np.abs(W.astype(np.float64))
    if kind[0] == "nm":
        return nm_mask(S, kind[1], kind[2])
    count = int(S.size * kind[1])
    pick = lowest_le if le else lowest_exact
    return pick(S.reshape(-1), count).reshape(S.shape)


def wanda(W, scaler, pattern):
    kind = parse(pattern)
    S = np.abs(W.astype(np.float64)) * np.sqrt(scaler)[None, :]
    if kind[0] == "nm":
        return nm_mask(S, kind[1], kind[2])
    count = int(S.shape[1] * kind[1])
    return np.stack([lowest_exact(S[r], count) for r in range(S.shape[0])])


def cholesky_lower(A):
    n = A.shape[0]
    L = np.zeros_like(A)
    diag0 = np.diag(A).copy()
    for j in range(n):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        if not (d > PIVOT_TOL * diag0[j]) or not math.isfinite(d):
            return None, j
        L[j, j] = math.sqrt(d)
        L[j + 1:, j] = (A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L, -1


def damp_for(percdamp, attempt):
    return percdamp if attempt == 0 else max(percdamp, 0.01) * 10.0 ** attempt


def inverse_factor(H, percdamp, retries):
    """U, the upper Cholesky factor of (H + damp I)^-1: Cholesky of H, inverse from the factor, Cholesky of the inverse."""
    n = H.shape[0]
    mean = np.mean(np.diag(H))
    for attempt in range(retries + 1):
        pd = damp_for(percdamp, attempt)
        Hd = H.copy()
        Hd[np.arange(n), np.arange(n)] += pd * mean
        L, _ = cholesky_lower(Hd)
        if L is None:
            continue
        Linv = np.linalg.inv(L)
        Hinv = Linv.T @ Linv
        L2, _ = cholesky_lower(Hinv)
        if L2 is None:
            continue
        return L2.T, pd, attempt
    raise RuntimeError("Hessian not positive definite")


def sparsegpt(W, H, pattern, blocksize=128, percdamp=0.01, retries=8, le=True):
    kind = parse(pattern)
    W = W.astype(np.float64).copy()
    H = H.copy()
    rows, cols = W.shape
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    U, pd, attempt = inverse_factor(H, percdamp, retries)
    mask_all = np.zeros((rows, cols), dtype=bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        bw = i2 - i1
        d = np.diag(U)[i1:i2]
        if kind[0] == "u":
            tmp = W[:, i1:i2] ** 2 / (d[None, :]) ** 2
            count = int(tmp.size * kind[1])
            if le:
                mask1 = lowest_le(tmp.reshape(-1), count).reshape(tmp.shape)
            else:
                mask1 = lowest_exact(tmp.reshape(-1), count).reshape(tmp.shape)
        else:
            mask1 = np.zeros((rows, bw), dtype=bool)
        Err = np.zeros((rows, bw))
        for i in range(bw):
            col = i1 + i
            if kind[0] == "nm" and i % kind[2] == 0:
                m = kind[2]
                tmp = W[:, col:col + m] ** 2 / (np.diag(U)[col:col + m][None, :]) ** 2
                mask1[:, i:i + m] |= nm_mask(tmp, kind[1], m)
            w = W[:, col].copy()
            q = w.copy()
            q[mask1[:, i]] = 0
            err = (w - q) / U[col, col]
            Err[:, i] = err
            W[:, col] = q
            W[:, col + 1:i2] -= np.outer(err, U[col, col + 1:i2])
        for i in range(bw):  # the lazy batch update W[:, i2:] -= Err @ U[i1:i2, i2:], one rank-1 term at a time
            W[:, i2:] -= np.outer(Err[:, i], U[i1 + i, i2:])
        mask_all[:, i1:i2] = mask1
    return W, mask_all, pd, attempt


def reconstruction_error(W0, W1, H):
    D = W1.astype(np.float64) - W0.astype(np.float64)
    W0 = W0.astype(np.float64)
    return float(np.trace(D @ H @ D.T) / np.trace(W0 @ H @ W0.T))


# ---------------------------------------------------------------- cases
def b64(a, dtype):
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).astype(dtype).tobytes()).decode("ascii")


def bits(mask):
    return "".join("1" if v else "0" for v in mask.reshape(-1))


def make_case(seed, rows, cols, seq_tokens, dead_cols, rank_tokens=None):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((rows, cols)).astype(np.float32)
    # Per-column input scales spanning two decades, so Wanda's and SparseGPT's choices differ from magnitude's.
    scale = np.exp(rng.uniform(np.log(0.1), np.log(10.0), cols))
    seqs = []
    for t in seq_tokens:
        x = (rng.standard_normal((t, cols)) * scale).astype(np.float32)
        x[:, dead_cols] = 0
        seqs.append(x)
    return W, seqs


CASES = [
    # name, seed, rows, cols, tokens per sequence, dead columns, percdamp
    ("small", 1, 16, 32, [8, 12, 16, 10], [5], 0.01),
    ("large", 2, 24, 320, [8, 16, 12], [7, 200], 0.01),
    # 10 tokens for 32 inputs: H has rank 10, so without dampening Cholesky fails and the retry is needed.
    ("damp", 3, 16, 32, [10], [], 0.0),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Copal.Prune.Tests", "Golden")
    os.makedirs(out, exist_ok=True)
    for name, seed, rows, cols, tokens, dead, percdamp in CASES:
        W, seqs = make_case(seed, rows, cols, tokens, dead)
        scaler, H, nseq = fold_statistics(seqs, cols)
        inputs = {
            "rows": rows, "cols": cols, "percdamp": percdamp, "dead_columns": dead,
            "weight_f32": b64(W, "<f4"),
            "sequences": [{"tokens": int(x.shape[0]), "x_f32": b64(x, "<f4")} for x in seqs],
            "scaler_f64": b64(scaler, "<f8"),
        }
        write(out, f"{name}.inputs.json", inputs)
        if name != "damp":
            mag, wan = {}, {}
            for p in PATTERNS:
                m = magnitude(W, p)
                mag[p] = {"mask": bits(m), "zeros": int(m.sum())}
                if parse(p)[0] == "u":
                    mag[p]["mask_le"] = bits(magnitude(W, p, le=True))
                w = wanda(W, scaler, p)
                wan[p] = {"mask": bits(w), "zeros": int(w.sum())}
            write(out, f"{name}.magnitude.json", mag)
            write(out, f"{name}.wanda.json", wan)
        sg = {}
        for p in PATTERNS:
            Wn, m, pd, attempt = sparsegpt(W, H, p, percdamp=percdamp)
            entry = {"mask": bits(m), "weight_f64": b64(Wn, "<f8"), "percdamp_used": pd, "attempts": attempt + 1,
                     "reconstruction_error": reconstruction_error(W, Wn.astype(np.float32), H)}
            if parse(p)[0] == "u":
                _, mexact, _, _ = sparsegpt(W, H, p, percdamp=percdamp, le=False)
                entry["pruned_exact"] = int(mexact.sum())
            sg[p] = entry
        write(out, f"{name}.sparsegpt.json", sg)


def write(folder, file, obj):
    path = os.path.join(folder, file)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
    print(f"{file}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
