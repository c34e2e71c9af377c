#!/usr/bin/env python3
"""Perplexity of a model on a text file in float64 torch, for checking `copal perplexity` by hand.

Written from ALGORITHMS.md ("Perplexity") and docs/evaluation.md, not from the C#; the forward and the tokenizer are
llama_reference.py's (its Llama in float64, its SpBpe and its sliding-window perplexity). The text is laid out as `--layout` says:

  * raw: the file as is (WikiText-2's test.joined.txt is already "\\n\\n".join(rows)), tokenized once with one BOS;
  * joined-lines: each line stripped, empty ones dropped, joined with one space (PTB), then tokenized once;
  * documents: split at every "<|endoftext|>", each piece's surrounding newlines trimmed, every non-empty piece
    tokenized on its own with its BOS, the ids concatenated (TinyStories as llama2.c's data).

Windows of --seqlen L start every --stride S tokens (default L); only whole windows are used (the tokens after the
last are dropped) and --limit K keeps the first K. The first window scores its tokens 2..L; a later window scores the
tokens past the previous window's end (Hugging Face's sliding-window recipe), which with S = L is again its tokens
2..L. ppl = exp(mean NLL over the scored tokens). Prints one JSON line: tokens, windows, predicted, mean_nll, ppl.

Usage: perplexity_reference.py --model DIR --data FILE [--layout raw|joined-lines|documents] --seqlen L
       [--stride S] [--limit K]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import Llama, SpBpe, sliding_perplexity  # noqa: E402


def token_ids(tok, text, layout):
    if layout == "joined-lines":
        return tok.encode(" ".join(line.strip() for line in text.split("\n") if line.strip()))
    if layout == "documents":
        ids = []
        for doc in text.split("<|endoftext|>"):
            doc = doc.strip("\n")
            if doc:
                ids += tok.encode(doc)
        return ids
    return tok.encode(text)


def perplexity(model, ids, seqlen, stride, limit):
    windows = (len(ids) - seqlen) // stride + 1 if len(ids) >= seqlen else 0
    if limit:
        windows = min(windows, limit)
    if windows == 0:
        raise SystemExit(f"the text has {len(ids)} tokens, fewer than one window of {seqlen}")
    # The windows themselves are llama_reference.py's recipe, over the tokens the first `windows` of them cover.
    r = sliding_perplexity(model, ids[:(windows - 1) * stride + seqlen], seqlen, stride)
    return {"tokens": len(ids), "windows": r["windows"], "predicted": r["predicted_tokens"],
            "mean_nll": r["nll_sum"] / r["predicted_tokens"], "ppl": r["ppl"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--layout", choices=["raw", "joined-lines", "documents"], default="raw")
    ap.add_argument("--seqlen", type=int, required=True)
    ap.add_argument("--stride", type=int)
    ap.add_argument("--limit", type=int)
    a = ap.parse_args()
    stride = a.stride or a.seqlen
    if a.seqlen < 2 or not 1 <= stride <= a.seqlen:
        raise SystemExit(f"expected 2 <= --seqlen and 1 <= --stride <= --seqlen, got {a.seqlen} and {stride}")
    torch.set_num_threads(1)
    model = Llama(a.model, dtype=torch.float64)
    tok = SpBpe(os.path.join(a.model, "tokenizer.json"))
    with open(a.data, encoding="utf-8") as f:
        text = f.read()
    print(json.dumps(perplexity(model, token_ids(tok, text, a.layout), a.seqlen, stride, a.limit)))


if __name__ == "__main__":
    main()
