#!/usr/bin/env python3
"""End-to-end reference of COPAL's continual pruning (`copal prune --method copal`, then `--resume` with the next
dataset) on a LLaMA model, in float64 torch/numpy.

Written from docs/copal.md ("Method", "State files") and ../shared/ALGORITHMS.md, independently of the C#: every step
starts again from the dense parent; per layer the dense layer runs over this step's windows through this step's
pruned upstream (prune_model_reference's pipeline); per linear this dataset's statistics are folded into the
state and the mask is re-derived from the dense weights:

  * sum / max: c_j = E_t[x_j^2] (output) or 1/[(H_t + damp)^-1]_jj (hessian, dead inputs 0); normalized by
    ||s||_F = sqrt(sum_j c_j^2 sum_i w_ij^4); S <- gamma*S + c_hat (sum) or max(gamma*S, c_hat) (max);
    H_acc <- gamma*H_acc + H_t/mean(diag H_t), rounded to f32 after every fold (with --update or --mask obs);
  * pooled: S <- (gamma*W*S + T*m)/(gamma*W + T) with m the per-token column moments, H_acc (and the cross term K)
    likewise with the per-token Gram G_t = (2/T)*sum X^T X; W <- gamma*W + T;
  * fixed mask: per row the floor(in*s) lowest w_ij^2*S_j (stable sort: ties to the lower index), or per row and
    M-group the N lowest; --update: the OBS elimination with that mask and H_acc (with max: D*H_acc*D, D_j =
    sqrt(S_j/H_jj), so the diagonal is the column state);
  * obs mask: SparseGPT (pruning_reference.sparsegpt, exactly floor(size*s) a block) on the dense weights with
    H_acc, after the dense-target move W + alpha*W*K*(H_acc + damp)^-1 (K pooled like H_acc; K at the Hessian's
    scale, 2/N sum over windows of (x_dense - x)^T x, x_dense the dense model's input to the linear).

--upstream (pooled, obs): pruned, each dataset's Gram through the upstream pruned at its step; dense-past, the state
holds the Grams through the dense upstream and this step prunes with that folded with this dataset's Gram through its
pruned upstream; mixed, the mean of the two, both kept; dense, every statistic through the dense upstream.

Writes GOLDEN (JSON): per step and pruned linear its mask bits, zeros, reconstruction error (against this dataset's
H_t, as prune-report.json gives it), the sum of squared pruned weights, the column state S (float64, base64) and, on
the input group leaders, the sum, sum of squares and trace of the f32 H_acc (and of K).

Usage: copal_reference.py --model DIR --calib FILE1 --calib FILE2 [...] --pattern P --golden OUT.json
         [--sensitivity output|hessian] [--accumulate sum|max|pooled] [--decay 1] [--update] [--mask fixed|obs]
         [--dense-target 0] [--upstream pruned|dense-past|mixed|dense] [--nsamples 8] [--seqlen 128] [--seed 0] [--percdamp 0.01] [--layers 1,3]
"""
import argparse
import base64
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as lr  # noqa: E402
import prune_model_reference as pm  # noqa: E402
import pruning_reference as pr  # noqa: E402

LEADER_OF = {"q": "q", "k": "q", "v": "q", "o": "o", "gate": "gate", "up": "gate", "down": "down"}


def damped(H, percdamp):
    """SparseGPT's treatment of H: dead inputs (H_jj = 0) get H_jj = 1, then + percdamp * mean(diag H) * I."""
    H = H.copy()
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    H[np.arange(H.shape[0]), np.arange(H.shape[0])] += percdamp * np.mean(np.diag(H))
    return H, dead


def hessian_columns(H, percdamp):
    """The hessian estimator's c_j = 1/[(H + damp)^-1]_jj, 0 for dead inputs (docs/copal.md, the estimator table)."""
    Hd, dead = damped(H, percdamp)
    inv_diag = np.diag(np.linalg.inv(Hd))
    return np.where(dead, 0.0, 1.0 / inv_diag)


def normalized(c, W):
    """c / ||s||_F with s_ij = w_ij^2 c_j; all zeros when the norm is 0 (no input energy)."""
    norm = np.sqrt(((W ** 2) ** 2 * (c ** 2)[None, :]).sum())
    return c / norm if norm > 0 else np.zeros_like(c)


def f32_symmetric(H):
    """Rounded to f32 as the state stores it (upper triangle, mirrored)."""
    upper = np.triu(H)
    return (upper + np.triu(H, 1).T).astype(np.float32)


def fixed_mask(W, S, pattern):
    scores = W ** 2 * S[None, :]
    kind = pr.parse(pattern)
    if kind[0] == "nm":
        return pr.nm_mask(scores, kind[1], kind[2])
    count = int(W.shape[1] * kind[1])
    return np.stack([pr.lowest_exact(scores[r], count) for r in range(W.shape[0])])


def masked_obs(W, mask, H, percdamp):
    """The OBS update for a given mask, from its definition: U the upper Cholesky factor of the dampened H^-1; column
    by column, err = w_i/U_ii on the masked rows, later columns -= err * U[i, i+1:]."""
    Hd, dead = damped(H, percdamp)
    Hinv = np.linalg.inv(Hd)
    U = np.linalg.cholesky(Hinv).T
    W = W.copy()
    for i in range(W.shape[1]):
        err = np.where(mask[:, i], W[:, i] / U[i, i], 0.0)
        W[:, i] -= err * U[i, i]
        W[:, i + 1:] -= np.outer(err, U[i, i + 1:])
    W[mask] = 0.0
    return W


def max_diagonal(H, S):
    """With max accumulation: D*H*D, D_j = sqrt(S_j/H_jj) (0 where either is 0), so its diagonal is the column state."""
    h = np.diag(H).astype(np.float64)
    d = np.where((h > 0) & (S > 0), np.sqrt(np.where(h > 0, S / np.where(h > 0, h, 1), 0)), 0.0)
    return (d[:, None] * H.astype(np.float64) * d[None, :]).astype(np.float32)


def stats_with_dense(m, L, L_dense, acts, acts_dense, inputs, cross_term):
    """This step's statistics of each input through the pruned upstream (layer L: dense, or with --true-sequential its
    groups pruned so far) and through the dense one (the dense layer on the dense model's activations: the dense
    model's input to the linear), and the cross term K at the Hessian's scale (2/N sum over windows of
    (x_dense - x)^T x). Without acts_dense (nothing pruned upstream yet) both sides are the same and K is 0."""
    _, stats = pm.run_layer(m, L, acts, inputs)
    stats_dense = stats if acts_dense is None else pm.run_layer(m, L_dense, acts_dense, inputs)[1]
    cross = {}
    if acts_dense is not None and cross_term:
        for b0 in range(acts.shape[0]):
            tp, td = {}, {}
            pm.layer_forward(m, L, acts[b0:b0 + 1], tp)
            pm.layer_forward(m, L_dense, acts_dense[b0:b0 + 1], td)
            for name in inputs:
                x, xd = tp[name].numpy()[0], td[name].numpy()[0]
                cross[name] = cross.get(name, 0.0) + (xd - x).T @ x
        cross = {k: v * (2.0 / acts.shape[0]) for k, v in cross.items()}
    return stats, stats_dense, cross


class State:
    def __init__(self, a):
        self.a = a
        self.columns, self.hessian, self.cross = {}, {}, {}
        self.dense_hessian = {}  # --upstream mixed: the Gram through the dense upstream beside H_main
        self.prune_with = {}  # this step's Hessian of each input group (dense-past, mixed: not the state's)
        self.weight = 0.0  # the decayed token weight W of the datasets folded (pooled)
        self.dtypes = pm.stored_dtypes(a.model)
        self.step = 0

    def fold_pooled(self, old, new, tokens):
        if self.step == 0:
            return new
        prior = self.a.decay * self.weight
        return (prior * old + tokens * new) / (prior + tokens)


def copal_step(m, dense_layers, a, state, calib, step_report):
    windows, digest = pm.calibration(m.tok, calib, a.nsamples, a.seqlen, a.seed)
    tokens = a.nsamples * a.seqlen
    selected = set(range(m.n_layers)) if a.layers is None else {int(x) for x in a.layers.split(",")}
    needs_h = a.sensitivity == "hessian" or a.update or a.mask == "obs"
    alpha = a.dense_target
    acts = m.embed[torch.tensor(windows, dtype=torch.long)]
    acts_dense = acts.clone() if alpha > 0 or a.upstream != "pruned" else None
    linears = {}
    first_pruned = True
    for li, dense in enumerate(dense_layers):
        L = dict(dense)
        if li not in selected:
            acts, _ = pm.run_layer(m, L, acts)
            if acts_dense is not None:
                acts_dense, _ = pm.run_layer(m, L, acts_dense)
            continue
        pruned = {}
        groups = pm.SEQUENTIAL_GROUPS if a.true_sequential else [pm.LINEARS]
        for gi, group in enumerate(groups):
            # Until something is pruned upstream (this layer's earlier groups included) both upstreams carry the same
            # inputs: one pass, K = 0.
            same = first_pruned and gi == 0
            stats, stats_dense, cross = stats_with_dense(m, L, dense, acts, None if same else acts_dense,
                                                         sorted({pm.INPUT_OF[n] for n in group}), alpha > 0)
            if a.upstream == "dense":
                stats = stats_dense  # every statistic through the dense upstream
            for n in group:
                name = f"model.layers.{li}.{pm.HF_NAMES[n]}.weight"
                scaler, H, nseq = stats[pm.INPUT_OF[n]]
                H = (H + H.T) / 2
                Hd_t = stats_dense[pm.INPUT_OF[n]][1]
                Hd_t = (Hd_t + Hd_t.T) / 2
                W = dense[n].numpy()
                # 1. the column state
                if a.accumulate == "pooled":
                    m_t = scaler * (nseq / tokens)  # running mean over windows of per-window sums -> per-token mean
                    state.columns[name] = state.fold_pooled(state.columns.get(name), m_t, tokens)
                else:
                    c = scaler.copy() if a.sensitivity == "output" else hessian_columns(H, a.percdamp)
                    c_hat = normalized(c, W)
                    if state.step == 0:
                        state.columns[name] = c_hat
                    elif a.accumulate == "sum":
                        state.columns[name] = a.decay * state.columns[name] + c_hat
                    else:
                        state.columns[name] = np.maximum(a.decay * state.columns[name], c_hat)
                S = state.columns[name]
                # 2. the accumulated Hessian (and cross term), once per input group
                leader = f"model.layers.{li}.{pm.HF_NAMES[LEADER_OF[n]]}.weight"
                if (a.update or a.mask == "obs") and LEADER_OF[n] == n:
                    if a.accumulate == "pooled":
                        G, D = H * (nseq / tokens), Hd_t * (nseq / tokens)
                        old, old_dense = state.hessian.get(leader), state.dense_hessian.get(leader)
                        old = None if old is None else old.astype(np.float64)
                        if a.upstream in ("pruned", "dense"):
                            state.hessian[leader] = f32_symmetric(state.fold_pooled(old, G, tokens))
                            state.prune_with[leader] = state.hessian[leader]
                        elif a.upstream == "dense-past":
                            # The state holds the Gram through the dense upstream; this dataset counts through this step's.
                            state.prune_with[leader] = f32_symmetric(state.fold_pooled(old, G, tokens))
                            state.hessian[leader] = f32_symmetric(state.fold_pooled(old, D, tokens))
                        else:  # mixed: the mean of the two estimates, each folded with G
                            main = f32_symmetric(state.fold_pooled(old, G, tokens))
                            state.prune_with[leader] = main
                            if state.step > 0:
                                other = f32_symmetric(state.fold_pooled(old_dense.astype(np.float64), G, tokens))
                                state.prune_with[leader] = (0.5 * (main.astype(np.float64) + other)).astype(np.float32)
                            state.hessian[leader] = main
                            state.dense_hessian[leader] = f32_symmetric(
                                state.fold_pooled(None if old_dense is None else old_dense.astype(np.float64), D, tokens))
                        if alpha > 0:
                            K = cross.get(pm.INPUT_OF[n], np.zeros_like(H)) * (nseq / tokens)
                            oldk = state.cross.get(leader)
                            state.cross[leader] = state.fold_pooled(None if oldk is None else oldk.astype(np.float64), K, tokens).astype(np.float32)
                    else:
                        mean = np.mean(np.diag(H))
                        Hn = H / mean if mean > 0 else np.zeros_like(H)
                        old = state.hessian.get(leader)
                        state.hessian[leader] = f32_symmetric(Hn if state.step == 0 else a.decay * old.astype(np.float64) + Hn)
                        state.prune_with[leader] = state.hessian[leader]
                # 3. the pruned weights
                if a.mask == "obs":
                    Hacc = state.prune_with[leader]
                    if a.accumulate == "max":
                        Hacc = max_diagonal(Hacc, S)
                    Hacc = Hacc.astype(np.float64)
                    Wm = W.astype(np.float64)
                    if alpha > 0 and leader in state.cross:
                        Hd, _ = damped(Hacc, a.percdamp)
                        Wm = Wm + alpha * (Wm @ state.cross[leader].astype(np.float64)) @ np.linalg.inv(Hd)
                        Wm = Wm.astype(np.float32).astype(np.float64)  # the moved weights are f32 before the sweep
                    W1, mask, _, _ = pr.sparsegpt(Wm, Hacc, a.pattern, percdamp=a.percdamp, le=False)
                    W1 = np.where(mask, 0.0, W1)
                else:
                    mask = fixed_mask(W, S, a.pattern)
                    if a.update:
                        Hacc = state.hessian[leader]
                        if a.accumulate == "max":
                            Hacc = max_diagonal(Hacc, S)
                        W1 = masked_obs(W, mask, Hacc.astype(np.float64), a.percdamp)
                    else:
                        W1 = np.where(mask, 0.0, W)
                # The reconstruction error is prune-report.json's: of the f32 result, before a BF16 or F16 checkpoint's
                # rounding (docs/json-outputs.md). The model is written in the stored dtype (to nearest even).
                W1f = W1.astype(np.float32).astype(np.float64)
                W1 = pm.to_stored(W1, state.dtypes[name])
                pruned[n] = W1
                entry = {"zeros": int((W1 == 0).sum()),
                         "mask_bits": base64.b64encode(np.packbits((W1 == 0).reshape(-1), bitorder="little").tobytes()).decode("ascii"),
                         "reconstruction_error": pm.reconstruction_error(W, W1f, H) if needs_h else None,
                         "sum_squares": float((W1 ** 2).sum()),
                         "columns_f64": base64.b64encode(np.ascontiguousarray(S, dtype="<f8").tobytes()).decode("ascii")}
                if (a.update or a.mask == "obs") and LEADER_OF[n] == n:
                    Hs = state.hessian[leader].astype(np.float64)
                    entry["hessian"] = {"sum": float(Hs.sum()), "sum_squares": float((Hs ** 2).sum()), "trace": float(np.trace(Hs))}
                    if a.upstream == "mixed":
                        Hs = state.dense_hessian[leader].astype(np.float64)
                        entry["dense_hessian"] = {"sum": float(Hs.sum()), "sum_squares": float((Hs ** 2).sum()), "trace": float(np.trace(Hs))}
                    if alpha > 0:
                        Ks = state.cross[leader].astype(np.float64)
                        entry["cross_term"] = {"sum": float(Ks.sum()), "sum_squares": float((Ks ** 2).sum()), "trace": float(np.trace(Ks))}
                linears[name] = entry
            for n in group:
                L[n] = torch.tensor(pruned[n])
        first_pruned = False
        if acts_dense is not None:
            acts_dense, _ = pm.run_layer(m, dense, acts_dense)
        acts, _ = pm.run_layer(m, L, acts)
    state.weight = a.decay * state.weight + tokens
    state.step += 1
    step_report.append({"calib": os.path.basename(calib), "calibration_hash": digest, "linears": linears})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--calib", action="append", required=True, help="one per step, in order")
    p.add_argument("--pattern", required=True)
    p.add_argument("--golden", required=True)
    p.add_argument("--sensitivity", choices=["output", "hessian"], default="output")
    p.add_argument("--accumulate", choices=["sum", "max", "pooled"], default="pooled")
    p.add_argument("--decay", type=float, default=1.0)
    p.add_argument("--update", action="store_true")
    p.add_argument("--mask", choices=["fixed", "obs"], default=None)
    p.add_argument("--dense-target", type=float, default=0.0)
    p.add_argument("--upstream", choices=["pruned", "dense-past", "mixed", "dense"], default="pruned")
    p.add_argument("--nsamples", type=int, default=8)
    p.add_argument("--seqlen", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--percdamp", type=float, default=0.01)
    p.add_argument("--layers", default=None)
    p.add_argument("--true-sequential", action="store_true")
    a = p.parse_args()
    a.mask = a.mask or ("fixed" if a.update else "obs")
    if a.dense_target > 0 and not (a.accumulate == "pooled" and a.mask == "obs"):
        p.error("--dense-target above 0 needs --accumulate pooled --mask obs")
    if a.upstream in ("dense-past", "mixed") and not (a.accumulate == "pooled" and a.mask == "obs"):
        p.error("--upstream dense-past and mixed need --accumulate pooled --mask obs")
    if a.upstream == "dense" and a.true_sequential:
        p.error("--upstream dense with --true-sequential is not written here")
    if a.upstream == "dense" and a.dense_target > 0:
        p.error("--dense-target above 0 needs an upstream other than dense")

    m = lr.Llama(a.model, dtype=torch.float64)
    m.tok = lr.SpBpe(os.path.join(a.model, "tokenizer.json"))
    dense_layers = [{k: v.clone() if torch.is_tensor(v) else v for k, v in L.items()} for L in m.layers]
    state, steps = State(a), []
    for calib in a.calib:
        copal_step(m, dense_layers, a, state, calib, steps)
    golden = {"options": {"sensitivity": a.sensitivity, "accumulate": a.accumulate, "decay": a.decay, "update": a.update,
                          "mask": a.mask, "upstream": a.upstream, "dense_target": a.dense_target, "percent_damp": a.percdamp},
              "pattern": a.pattern, "nsamples": a.nsamples, "seqlen": a.seqlen, "seed": a.seed, "layers": a.layers, "true_sequential": a.true_sequential,
              "calib": [os.path.basename(os.path.dirname(c)) + "/" + os.path.basename(c) for c in a.calib], "steps": steps}
    with open(a.golden, "w") as f:
        json.dump(golden, f, indent=1)


if __name__ == "__main__":
    main()
