#!/usr/bin/env python3
"""Float64 reference goldens for the testbed model, from tools/reference/llama_reference.py (own torch forward
and own SentencePiece-BPE encoder over tokenizer.json), cross-checked against Debian's sentencepiece.

    goldens.py --model testbed/models/NAME --sp sp.model --out tests/Copal.Model.Tests/Golden [--threads 2]

Writes NAME_logits.json and NAME_perplexity.json (compact JSON). See tools/testbed/README.md.
"""

import argparse
import math
import os
import sys

import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import llama_reference as ref  # noqa: E402

DOMAINS = ("stories", "python", "c", "prose")
CASE_TOKENS = 48          # tokens (with BOS) of each domain's logits case
TOP = 32                  # the TOP largest logits of every position are stored
STRIDE = 32               # and every STRIDE-th vocabulary id (0, 16, 32, ...)
PPL_CHARS = 8_000         # perplexity golden: the first PPL_CHARS characters of each eval split
PPL_SEQLEN = 256


def cut_to_tokens(sp, text, n):
    """A prefix of text of at most n tokens (with BOS) that encodes to exactly the first tokens of text: the decode
    of the first k ids, for the largest k <= n - 1 whose decode re-encodes to those ids."""
    ids = sp.encode(text[: 40 * n])
    for k in range(n - 1, 0, -1):
        prefix = sp.decode(ids[:k])
        if sp.encode(prefix) == ids[:k] and text.startswith(prefix):
            return prefix
    raise ValueError("no clean token prefix")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--sp", required=True)
    ap.add_argument("--corpus", required=True, help="the folder with DOMAIN/eval.txt (testbed/data)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name = os.path.basename(os.path.normpath(args.model))
    tok = ref.SpBpe(os.path.join(args.model, "tokenizer.json"))
    sp = spm.SentencePieceProcessor()
    sp.load(args.sp)
    model = ref.Llama(args.model, dtype=torch.float64)
    vocab = model.vocab
    common = {"model": name, "dtype": "float64",
              "computation": "independent torch forward (tools/reference/llama_reference.py), BF16 weights widened "
                             "to float64, every op including RoPE angles, RMSNorm and softmax in float64"}

    evals = {}
    for d in DOMAINS:
        with open(os.path.join(args.corpus, d, "eval.txt"), encoding="utf-8") as f:
            evals[d] = f.read()

    cases = [("bos_only", "")]
    for d in DOMAINS:
        cases.append((f"{d}_eval_start", cut_to_tokens(sp, evals[d], CASE_TOKENS)))
    out_cases = []
    with torch.no_grad():
        for cname, text in cases:
            ids = tok.encode(text)
            assert ids == [1] + sp.encode(text), f"{cname}: reference encoder differs from sentencepiece"
            logits = model.forward(torch.tensor(ids, dtype=torch.long))
            rows = []
            for row in logits:
                top = torch.topk(row, TOP).indices.tolist()
                idx = sorted(set(top) | set(range(0, vocab, STRIDE)))
                rows.append({"ids": idx, "values": [ref.fmt(float(row[i])) for i in idx]})
            out_cases.append({"name": cname, "text": text, "ids": ids,
                              "argmax": [int(a) for a in logits.argmax(-1)],
                              "logsumexp": [ref.fmt(v) for v in torch.logsumexp(logits, -1).tolist()],
                              "logits": rows})
            print(f"logits case {cname}: {len(ids)} tokens", flush=True)
    ref.write_json(os.path.join(args.out, f"{name}_logits.json"),
                   dict(common,
                        rounding=f"logits and logsumexp rounded to {ref.LOGIT_DECIMALS} decimal places",
                        tokenization="BOS (1) + SentencePiece-BPE of text (the reference encoder over tokenizer.json; "
                                     "checked equal to Debian sentencepiece on sp.model)",
                        stored_logits=f"per position: the {TOP} largest logits and every {STRIDE}th vocabulary id "
                                      f"(0, {STRIDE}, ...), as ids/values; argmax and logsumexp over all {vocab}",
                        cases=out_cases))

    results = []
    for d in DOMAINS:
        text = evals[d][:PPL_CHARS]
        ids = tok.encode(text)
        assert ids == [1] + sp.encode(text), f"{d}: reference encoder differs from sentencepiece"
        with torch.no_grad():
            r = ref.perplexity(model, ids, PPL_SEQLEN)
        results.append({"name": f"{d}_eval_first{PPL_CHARS}chars",
                        "preprocessing": f"testbed/data/{d}/eval.txt read as UTF-8, first {PPL_CHARS} characters",
                        "characters": len(text), "tokens": len(ids), "first_16_ids": ids[:16],
                        "last_16_ids": ids[-16:], "results": [r]})
        print(f"{d}: {len(ids)} tokens, seqlen {PPL_SEQLEN}: {r['windows']} windows ppl {r['ppl']:.6f}", flush=True)
    ref.write_json(os.path.join(args.out, f"{name}_perplexity.json"),
                   dict(common, tokenization="the whole text tokenized once, BOS (1) prepended once",
                        method="windows = tokens // seqlen non-overlapping windows from token 0, remainder dropped; "
                               "each window on its own from position 0; NLL of tokens 2..seqlen of each window; "
                               "ppl = exp(nll_sum / (windows * (seqlen - 1)))",
                        datasets=results))
    assert math.isfinite(results[0]["results"][0]["ppl"])


if __name__ == "__main__":
    main()
