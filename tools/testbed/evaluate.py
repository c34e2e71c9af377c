#!/usr/bin/env python3
"""Evaluation of the testbed model with the `copal` command (perplexity, prune) and a unigram baseline.

    evaluate.py dense --copal COPAL --model testbed/models/NAME --data testbed/data --corpus CORPUS --sp sp.model
                      --out FILE.json
    evaluate.py probe --copal COPAL --model testbed/models/NAME --data testbed/data --work DIR --out FILE.json

dense: `copal perplexity --seqlen 256` of the model on every domain's eval split, and the perplexity of a unigram
       model on the same predicted tokens (the same windows: tokens 2..256 of each 256-token window of BOS + the
       split's ids). Unigram: token frequencies of the domain's own train split (SentencePiece ids, add-one over the
       whole vocabulary), i.e. the best context-free model of that domain; also a unigram of all four train
       splits together.
probe: the precondition of continual pruning. For Wanda and SparseGPT at 50% unstructured and at 2:4, the model is
       pruned once per domain with `copal prune --calib DOMAIN/calib.txt --nsamples 64 --seqlen 256 --seed 0
       --no-layer-error`, and each pruned model's perplexity is measured on the first PROBE_CHUNKS windows of every
       domain's eval split (a calibration × evaluation matrix). The precondition holds for a domain D_i (i > 1) when
       ppl(D_i | calibrated on D_i) < ppl(D_i | calibrated on D_1); D_1 is --d1 (default stories), and the count of
       domains where it holds is also given for every choice of D_1.
"""

import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys

DOMAINS = ("stories", "python", "c", "prose")
SEQLEN = 256
PROBE_CHUNKS = 48  # the probe evaluates the first 48 windows (12,288 tokens) of each eval split
PROBE_NSAMPLES = 64
SETTINGS = (("wanda", "--sparsity", "0.5"), ("wanda", "--pattern", "2:4"),
            ("sparsegpt", "--sparsity", "0.5"), ("sparsegpt", "--pattern", "2:4"))


def copal(exe, *args):
    r = subprocess.run([exe, *args, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"copal {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return json.loads(r.stdout)


def ppl(exe, model, data, limit=None):
    extra = ("--limit-chunks", str(limit)) if limit else ()
    return copal(exe, "perplexity", "-m", model, "--data", data, "--seqlen", str(SEQLEN), "--device", "cpu", *extra)


def cmd_dense(args):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor()
    sp.load(args.sp)
    V = sp.get_piece_size()
    counts, total = {}, [0] * V
    for d in DOMAINS:
        with open(os.path.join(args.corpus, d, "train.txt"), encoding="utf-8") as f:
            c = [0] * V
            for i in sp.encode(f.read()):
                c[i] += 1
        counts[d] = c
        total = [a + b for a, b in zip(total, c)]
    out = {"seqlen": SEQLEN, "domains": {}}
    for d in DOMAINS:
        path = os.path.join(args.data, d, "eval.txt")
        j = ppl(args.copal, args.model, path)
        with open(path, encoding="utf-8") as f:
            ids = [1] + sp.encode(f.read())
        nwin = len(ids) // SEQLEN
        targets = [t for w in range(nwin) for t in ids[w * SEQLEN + 1:(w + 1) * SEQLEN]]
        res = {"copal": {k: j[k] for k in ("ppl", "mean_nll", "predicted_tokens", "chunks", "tokens")}}
        assert j["predicted_tokens"] == len(targets), (j["predicted_tokens"], len(targets))
        for name, c in (("unigram_own_domain", counts[d]), ("unigram_all_domains", total)):
            n = sum(c)
            nll = -sum(math.log((c[t] + 1) / (n + V)) for t in targets) / len(targets)
            res[name] = {"perplexity": math.exp(nll), "predicted_tokens": len(targets)}
        out["domains"][d] = res
        p = res["copal"]["ppl"]
        print(f"{d}: copal ppl {p}, unigram (own) {res['unigram_own_domain']['perplexity']:.2f}, "
              f"unigram (all) {res['unigram_all_domains']['perplexity']:.2f}", flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def probe_setting(args, method, flag, value):
    """Prunes once per calibration domain and measures every pruned model on every domain: the matrix
    ppl[calibrated on c][evaluated on e]. The precondition for a first domain D_1 holds on D_i when
    ppl[D_i][D_i] < ppl[D_1][D_i]; it is reported for --d1 and, for choosing an order, for every D_1."""
    tag = f"{method}-{value.replace(':', 'of').replace('.', '')}"
    row = {"method": method, flag.lstrip("-"): value, "matrix": {}}
    for c in DOMAINS:
        outdir = os.path.join(args.work, f"{tag}-calib-{c}")
        copal(args.copal, "prune", "-m", args.model, "-o", outdir, "--force", "--method", method, flag, value,
              "--calib", os.path.join(args.data, c, "calib.txt"), "--nsamples", str(PROBE_NSAMPLES),
              "--seqlen", str(SEQLEN), "--seed", "0", "--no-layer-error", "--device", "cpu")
        row["matrix"][c] = {e: ppl(args.copal, outdir, os.path.join(args.data, e, "eval.txt"), PROBE_CHUNKS)["ppl"]
                            for e in DOMAINS}
        print(tag, c, row["matrix"][c], flush=True)
    m = row["matrix"]
    row["own"] = {d: m[d][d] for d in DOMAINS}
    row["calib_d1"] = {e: m[args.d1][e] for e in DOMAINS}
    row["holds"] = {d: m[d][d] < m[args.d1][d] for d in DOMAINS if d != args.d1}
    row["domains_holding"] = sum(row["holds"].values())
    row["domains_holding_by_d1"] = {d1: sum(m[d][d] < m[d1][d] for d in DOMAINS if d != d1) for d1 in DOMAINS}
    print(json.dumps(row), flush=True)
    return row


def cmd_probe(args):
    os.makedirs(args.work, exist_ok=True)
    # the four settings are independent: one worker each (every copal call is its own process)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(SETTINGS)) as pool:
        rows = list(pool.map(lambda st: probe_setting(args, *st), SETTINGS))
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"seqlen": SEQLEN, "eval_windows": PROBE_CHUNKS, "nsamples": PROBE_NSAMPLES, "seed": 0,
                   "d1": args.d1, "rows": rows}, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("dense")
    a.add_argument("--copal", required=True)
    a.add_argument("--model", required=True)
    a.add_argument("--data", required=True)
    a.add_argument("--corpus", required=True)
    a.add_argument("--sp", required=True)
    a.add_argument("--out", required=True)
    b = sub.add_parser("probe")
    b.add_argument("--copal", required=True)
    b.add_argument("--model", required=True)
    b.add_argument("--data", required=True)
    b.add_argument("--work", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--d1", default=DOMAINS[0], choices=DOMAINS, help="the first domain of the continual order")
    args = ap.parse_args()
    {"dense": cmd_dense, "probe": cmd_probe}[args.cmd](args)


if __name__ == "__main__":
    main()
