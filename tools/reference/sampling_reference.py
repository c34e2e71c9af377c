#!/usr/bin/env python3
"""Independent numpy reference of Copal's next-token choice, written from docs/serving.md and docs/cli.md and the
public semantics they cite, not from Copal's C#:

- logit_bias: OpenAI's, added to the named tokens' logits, first (vLLM's order: before the penalties).
- repetition_penalty: Hugging Face's RepetitionPenaltyLogitsProcessor over every distinct token of the prompt and the
  reply: a positive logit divided by the penalty, a negative one multiplied by it.
- presence_penalty, frequency_penalty: OpenAI's formula over the reply so far (the prompt does not count):
  logit - count * frequency_penalty - (count > 0) * presence_penalty.
- temperature 0: greedy, the argmax of the processed logits, the lowest id on ties (torch.argmax).
- otherwise, in Hugging Face's order: the softmax of logits / temperature; top_k keeps the k likeliest; top_p keeps
  the smallest ranked prefix of what top_k kept whose share of that mass reaches top_p; min_p keeps the tokens whose
  probability is at least min_p times the likeliest's; what is left is renormalized. Tokens are ranked by probability,
  ties by the lower id, so a tie at a top-k or top-p cut keeps the lower ids. Each filter keeps at least one token.
- logprobs: the model's own, the log-softmax of the raw logits (before bias, penalties and filters), as vLLM reports
  them; the top alternatives likeliest first, ties by lower id.
- a padded vocabulary (more logit rows than the tokenizer has tokens): only the first `decodable` rows take part.

The model's logits are float32, and the processors change them in float32 (as Hugging Face's do on float32 scores);
the softmax, the sums and the filters are in float64.

    python3 tools/reference/sampling_reference.py goldens --out tests/Copal.Model.Tests/Golden/sampling_reference.json
    python3 tools/reference/sampling_reference.py selftest
"""
import argparse
import json
import math
import sys

import numpy as np

F32 = np.float32


def process(logits, options, context, reply):
    """The logits after logit_bias, the repetition penalty and the presence/frequency penalties (float32)."""
    z = np.array(logits, dtype=F32).copy()
    for token, bias in sorted((options.get("logit_bias") or {}).items()):
        z[int(token)] = F32(z[int(token)] + F32(bias))
    penalty = F32(options.get("repetition_penalty", 1.0))
    if penalty != F32(1.0):
        for token in sorted(set(t for t in context if 0 <= t < len(z))):
            z[token] = z[token] * penalty if z[token] < 0 else z[token] / penalty
    presence = F32(options.get("presence_penalty", 0.0))
    frequency = F32(options.get("frequency_penalty", 0.0))
    if presence != 0 or frequency != 0:
        counts = {}
        for t in reply:
            counts[t] = counts.get(t, 0) + 1
        for token, count in sorted(counts.items()):
            if token < len(z):
                z[token] = F32(z[token] - F32(F32(count) * frequency + presence))
    return z


def ranked(weights):
    """Token ids by weight, descending, the lower id first on ties."""
    return sorted(range(len(weights)), key=lambda t: (-weights[t], t))


def distribution(logits, options, context=(), reply=(), decodable=None, margins=None):
    """
    The probability of each decodable token at the next choice (float64); greedy is one-hot. `margins`, a list, gets
    how far each top-p and min-p decision lay from its threshold, relative to the kept mass (0: an exact tie).
    """
    margins = [] if margins is None else margins
    logits = list(logits)[: decodable or len(logits)]
    z = process(logits, options, context, reply).astype(np.float64)
    if not np.isfinite(z.max()):
        raise ValueError("no token can be chosen")
    temperature = float(F32(options.get("temperature", 0.0)))
    result = np.zeros(len(z))
    if temperature == 0:
        result[int(np.argmax(z))] = 1.0
        return result
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scaled = z / temperature
        scaled = np.where(np.isnan(scaled), -np.inf, scaled)
        top = scaled.max()
        if np.isinf(top):
            # A temperature so small that the maxima alone are left: the limit of the softmax.
            weights = (z == z.max()).astype(np.float64)
        else:
            weights = np.exp(scaled - top)
    order = ranked(weights)
    k = int(options.get("top_k", 0))
    keep = order[:k] if 0 < k < len(order) else order
    top_p = float(F32(options.get("top_p", 1.0)))
    if top_p < 1:
        mass = sum(weights[t] for t in keep)
        running, cut = 0.0, len(keep)
        for i, t in enumerate(keep):
            running += weights[t]
            margins.append(abs(running - top_p * mass) / mass)
            if running >= top_p * mass:
                cut = i + 1
                break
        keep = keep[:cut]
    min_p = float(F32(options.get("min_p", 0.0)))
    if min_p > 0:
        likeliest = weights[keep[0]]
        margins.extend(abs(weights[t] - min_p * likeliest) / likeliest for t in keep)
        keep = [t for t in keep if weights[t] >= min_p * likeliest] or keep[:1]
    mass = sum(weights[t] for t in keep)
    for t in keep:
        result[t] = weights[t] / mass
    return result


def logprobs(logits, chosen, top, decodable=None):
    """The raw log-softmax of the chosen token and of the `top` likeliest (ties by lower id)."""
    z = np.array(list(logits)[: decodable or len(logits)], dtype=F32).astype(np.float64)
    m = z.max()
    log_sum = m + math.log(np.exp(z - m).sum())
    best = sorted(range(len(z)), key=lambda t: (-z[t], t))[:top]
    return {"chosen": float(z[chosen] - log_sum), "top_ids": best, "top": [float(z[t] - log_sum) for t in best]}


def rounded(values, digits=3):
    """Logits of a few decimals, so that the JSON text reads as the same float32 in C# and here."""
    return [float(F32(round(float(v), digits))) if np.isfinite(v) else float(v) for v in values]


def json_logits(values):
    return [v if math.isfinite(v) else ("-inf" if v < 0 else "inf") for v in values]


def cases(rng, random_rows=14, max_vocab=24):
    """Random rows and the adversarial ones: each a dict of logits, options, context, reply, decodable."""
    out = []

    def add(name, logits, options, context=(), reply=(), decodable=None):
        out.append({"name": name, "logits": list(logits), "options": options, "context": list(context),
                    "reply": list(reply), "decodable": decodable})

    # Random rows under every filter and their combinations.
    for i in range(random_rows):
        n = int(rng.integers(2, max_vocab))
        scale = float(rng.choice([0.5, 2.0, 5.0]))
        logits = rounded(rng.normal(0, scale, n))
        if i % 7 == 3:
            # Coarse logits: many exact ties, wherever the cuts fall.
            logits = [float(np.floor(v)) for v in logits]
        if i % 11 == 5:
            logits[int(rng.integers(0, n))] = -math.inf
        options = {"temperature": float(rng.choice([0.3, 0.7, 1.0, 1.5, 2.0]))}
        if i % 2 == 0:
            options["top_k"] = int(rng.integers(1, n + 3))
        if i % 3 == 0:
            options["top_p"] = float(rng.choice([0.2, 0.5, 0.9, 0.95]))
        if i % 4 == 1:
            options["min_p"] = float(rng.choice([0.05, 0.1, 0.3]))
        if i % 5 == 2:
            options["repetition_penalty"] = float(rng.choice([1.1, 1.3, 0.8]))
        if i % 3 == 1:
            options["presence_penalty"] = float(rng.choice([0.5, -0.7, 1.5]))
            options["frequency_penalty"] = float(rng.choice([0.3, -0.4, 2.0]))
        context = [int(t) for t in rng.integers(0, n, 6)]
        reply = [int(t) for t in rng.integers(0, n, 5)]
        add(f"random_{i}", logits, options, context + reply, reply)

    # Ties at the top-p boundary: four equal tokens after a leader; the cut falls in the middle of the tie.
    tied = [2.0, 1.0, 1.0, 1.0, 1.0, -1.0]
    w = np.exp(np.array(tied, dtype=np.float64) - 2)
    p = float(F32((w[0] + 1.5 * w[1]) / w.sum()))
    add("top_p_boundary_in_a_tie", tied, {"temperature": 1.0, "top_p": p})
    # Uniform rows whose top-p lands exactly on a token: 0.5 of 8 equal tokens is exactly four of them.
    add("top_p_exactly_on_a_token", [0.0] * 8, {"temperature": 1.0, "top_p": 0.5})
    add("top_k_cut_in_a_tie", [3.0, 1.0, 1.0, 1.0, 0.0], {"temperature": 1.0, "top_k": 2})
    add("min_p_one_keeps_the_tied_maxima", [1.0, 2.5, 0.5, 2.5, 2.499], {"temperature": 1.0, "min_p": 1.0})
    add("top_p_tiny_keeps_the_likeliest", [0.5, 1.5, 1.5, -2.0], {"temperature": 1.0, "top_p": 1e-9})
    # logit_bias -100 bans; every other token at -inf but one leaves one token.
    add("logit_bias_bans", [5.0, 4.0, 3.0, 2.0, 1.0], {"temperature": 1.0, "logit_bias": {"0": -100.0, "2": 1.5}})
    add("logit_bias_bans_greedy", [5.0, 4.0, 3.0, 2.0, 1.0], {"temperature": 0.0, "logit_bias": {"0": -100.0, "1": -0.5}})
    add("minus_infinity_rows", [-math.inf, 1.0, -math.inf, 0.5, -math.inf], {"temperature": 0.8, "top_k": 4})
    add("one_token_left", [-math.inf, -math.inf, 0.25, -math.inf], {"temperature": 1.3, "top_p": 0.1, "min_p": 0.5})
    # Temperatures far from 1: the limit is greedy (ties shared) or the uniform distribution.
    add("tiny_temperature_shares_tied_maxima", [1.0, 3.0, 3.0, 2.9], {"temperature": 1e-30})
    add("tiny_temperature", [1.0, 3.0, 2.999, -4.0], {"temperature": 1e-6})
    add("huge_temperature", [10.0, -10.0, 0.0, 5.0, -math.inf], {"temperature": 1e6})
    add("huge_logits_small_temperature", [80.0, 79.5, 60.0, -80.0], {"temperature": 0.05})
    # A padded vocabulary: rows past the tokenizer's tokens never take part, however likely.
    add("padded_rows", [0.5, 1.0, -0.5, 0.0, 50.0, 50.0], {"temperature": 1.0}, decodable=4)
    add("padded_rows_greedy", [0.5, 1.0, -0.5, 0.0, 50.0, 50.0], {"temperature": 0.0}, decodable=4)
    add("padded_rows_top_k", [0.5, 1.0, -0.5, 0.0, 50.0, 50.0], {"temperature": 0.7, "top_k": 3, "top_p": 0.9}, decodable=4)
    # Penalties on repeated ids, positive and negative logits, greedy and sampled.
    add("repetition_penalty_both_signs", [2.0, -1.0, 0.0, 1.5, -0.5, 1.0],
        {"temperature": 1.0, "repetition_penalty": 1.5}, context=[0, 1, 1, 2, 4, 0])
    add("repetition_penalty_below_one", [2.0, -1.0, 0.0, 1.5], {"temperature": 0.9, "repetition_penalty": 0.5},
        context=[1, 3])
    add("frequency_counts_repeats", [2.0, 1.9, 1.8, 1.7, 0.0],
        {"temperature": 1.0, "frequency_penalty": 0.4, "presence_penalty": 0.25}, context=[4, 0, 0, 0, 1], reply=[0, 0, 0, 1])
    add("penalties_greedy", [2.0, 1.9, 1.8, 1.7, 0.0],
        {"temperature": 0.0, "frequency_penalty": 0.2, "presence_penalty": 0.1, "repetition_penalty": 1.2},
        context=[3, 0, 0, 1], reply=[0, 0, 1])
    add("bias_then_repetition_penalty", [4.0, 3.0, 2.0, 1.0],
        {"temperature": 1.0, "logit_bias": {"1": -5.0}, "repetition_penalty": 2.0}, context=[1, 2])
    # Rows of more than 32 candidates: the ranking partitions them (quickselect) rather than sorting a few.
    wide = rounded(np.random.default_rng(5).normal(0, 1.5, 64), 1)
    add("wide_row_top_p_with_ties", wide, {"temperature": 1.0, "top_p": 0.9})
    add("wide_row_top_k_with_ties", wide, {"temperature": 0.9, "top_k": 37})
    add("wide_row_unfiltered", wide, {"temperature": 1.2, "presence_penalty": 1.0}, reply=[3, 3, 60])
    add("everything", rounded(np.random.default_rng(7).normal(0, 2, 40)),
        {"temperature": 0.8, "top_k": 20, "top_p": 0.9, "min_p": 0.05, "repetition_penalty": 1.1,
         "presence_penalty": 0.3, "frequency_penalty": 0.2, "logit_bias": {"3": 2.0, "5": -100.0}},
        context=[1, 3, 3, 5, 7, 9, 9, 9], reply=[3, 9, 9], decodable=36)
    return out


def margin_ok(case):
    """Whether no filter decision of the case lies within rounding of its threshold, unless it is an exact tie."""
    o = case["options"]
    t = float(F32(o.get("temperature", 0.0)))
    if t == 0:
        z = process(case["logits"][: case["decodable"] or len(case["logits"])], o, case["context"], case["reply"]).astype(np.float64)
        top2 = np.sort(z[np.isfinite(z)])[-2:]
        return len(top2) < 2 or top2[1] - top2[0] > 1e-3 or top2[1] == top2[0]
    margins = []
    distribution(case["logits"], o, case["context"], case["reply"], case["decodable"], margins)
    # Float32 against float64 moves a weight by about 1e-6 of itself: a decision closer than 1e-4 could go either way.
    return all(m == 0 or m > 1e-4 for m in margins)


def short(value):
    return float(f"{float(value):.9g}")


def golden(case):
    d = distribution(case["logits"], case["options"], case["context"], case["reply"], case["decodable"])
    support = [int(t) for t in np.nonzero(d)[0]]
    row = dict(case)
    row["logits"] = json_logits(case["logits"])
    row["support"] = support
    # Nine digits: far inside the tolerance the tests compare with, and a golden of a few kilobytes.
    row["probs"] = [short(d[t]) for t in support]
    raw = np.array(case["logits"][: case["decodable"] or len(case["logits"])], dtype=np.float64)
    if np.all(np.isfinite(raw)):
        chosen = support[-1]
        lp = logprobs(case["logits"], chosen, 3, case["decodable"])
        row["logprobs"] = {"chosen_id": chosen, "count": 3, "chosen": short(lp["chosen"]), "top_ids": lp["top_ids"],
                           "top": [short(v) for v in lp["top"]]}
    return row


def selftest():
    """Hand-computed values the reference must give."""
    d = distribution([0.0, 0.0, 0.0, 0.0], {"temperature": 1.0})
    assert np.allclose(d, 0.25)
    d = distribution([1.0, 1.0, 1.0], {"temperature": 1.0, "top_k": 2})
    assert list(d) == [0.5, 0.5, 0.0]
    d = distribution([math.log(0.5), math.log(0.3), math.log(0.2)], {"temperature": 1.0, "top_p": 0.75})
    assert np.allclose(d, [0.625, 0.375, 0.0])
    d = distribution([math.log(0.5), math.log(0.3), math.log(0.2)], {"temperature": 1.0, "min_p": 0.5})
    assert np.allclose(d, [0.625, 0.375, 0.0])
    z = process([2.0, -2.0, 3.0], {"repetition_penalty": 2.0}, [0, 1, 1], [])
    assert list(z) == [1.0, -4.0, 3.0]
    z = process([2.0, 2.0, 2.0], {"presence_penalty": 0.5, "frequency_penalty": 0.25}, [], [1, 1, 2])
    assert list(z) == [2.0, 1.0, 1.25]
    d = distribution([1.0, 5.0, 2.0], {"temperature": 0.0, "logit_bias": {"1": -100}})
    assert list(d) == [0.0, 0.0, 1.0]
    lp = logprobs([0.0, 0.0], 1, 2)
    assert abs(lp["chosen"] - math.log(0.5)) < 1e-15 and lp["top_ids"] == [0, 1]
    print("selftest ok")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("goldens")
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=int, default=2026)
    g.add_argument("--random-rows", type=int, default=14, help="more for a one-off stress run, not to commit")
    g.add_argument("--max-vocab", type=int, default=24, help="random rows have 2 to this many tokens")
    sub.add_parser("selftest")
    args = parser.parse_args()
    if args.command == "selftest":
        selftest()
        return 0
    rows = [golden(c) for c in cases(np.random.default_rng(args.seed), args.random_rows, args.max_vocab) if margin_ok(c)]
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/reference/sampling_reference.py goldens", "seed": args.seed, "cases": rows}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(f"{len(rows)} cases written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
