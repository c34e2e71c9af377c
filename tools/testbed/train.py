#!/usr/bin/env python3
"""Train the testbed LLaMA on the four-domain corpus (Debian python3-torch, CPU, deterministic).

    train.py --corpus DIR --sp DIR/sp.model --out RUNDIR --steps N [--threads 2] [--seed 0]
             [--save-every K] [--time-steps K] [--horizon H]

The run is defined by its step count (never by wall clock): the same arguments give the same weights.
Every --save-every steps and at the end the model is written as an HF folder RUNDIR/step-NNNNN
(config.json, model.safetensors in BF16 through export.py's strict writer, no torch pickles). RUNDIR/log.jsonl
gets one line per 10 steps (loss, lr, tokens/s). --time-steps K: run K steps, print tokens/s, write nothing.

Model: HF LlamaForCausalLM semantics (pre-norm RMSNorm, rotate-half RoPE, GQA, SiLU-gated MLP, no biases,
untied lm_head). Data: each domain's train split tokenized whole (no BOS, like `copal perplexity` windows after
the first); a step draws BATCH windows of SEQ+1 tokens at uniform random offsets, the domain of each window drawn
with DOMAIN_WEIGHTS (TinyStories is small, so it gets a smaller share to limit repetition).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402

DOMAINS = ("stories", "python", "c", "prose")
DOMAIN_WEIGHTS = (0.16, 0.28, 0.28, 0.28)

CONFIG = {
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 5,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "vocab_size": 4096,
    "max_position_embeddings": 256,  # = SEQ: the model never sees later positions
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
}
SEQ = 256
BATCH = 8
LR = 3e-3
MIN_LR = 3e-4
WARMUP = 30
DECAY_STEPS = 400
WEIGHT_DECAY = 0.1
CLIP = 1.0


class RMSNorm(torch.nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["hidden_size"], c["head_dim"]
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], hd
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.q_proj = torch.nn.Linear(d, self.nh * hd, bias=False)
        self.k_proj = torch.nn.Linear(d, self.nkv * hd, bias=False)
        self.v_proj = torch.nn.Linear(d, self.nkv * hd, bias=False)
        self.o_proj = torch.nn.Linear(self.nh * hd, d, bias=False)
        self.gate_proj = torch.nn.Linear(d, c["intermediate_size"], bias=False)
        self.up_proj = torch.nn.Linear(d, c["intermediate_size"], bias=False)
        self.down_proj = torch.nn.Linear(c["intermediate_size"], d, bias=False)

    def forward(self, h, cos, sin, mask):
        B, T, _ = h.shape
        x = self.input_layernorm(h)
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q * (1.0 / math.sqrt(self.hd))) @ k.transpose(-1, -2)
        s = s.masked_fill(mask, float("-inf"))
        a = torch.softmax(s, dim=-1) @ v
        h = h + self.o_proj(a.transpose(1, 2).reshape(B, T, self.nh * self.hd))
        x = self.post_attention_layernorm(h)
        return h + self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Llama(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = torch.nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = torch.nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        hd = c["head_dim"]
        self.register_buffer("inv_freq", 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)),
                             persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c["num_hidden_layers"]) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        T = ids.shape[1]
        ang = torch.arange(T, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        h = self.embed_tokens(ids)
        for L in self.layers:
            h = L(h, cos, sin, mask)
        return self.lm_head(self.norm(h))

    def hf_state(self):
        """Tensors under HF LlamaForCausalLM names."""
        out = {"model.embed_tokens.weight": self.embed_tokens.weight, "model.norm.weight": self.norm.weight,
               "lm_head.weight": self.lm_head.weight}
        for i, L in enumerate(self.layers):
            p = f"model.layers.{i}."
            out[p + "input_layernorm.weight"] = L.input_layernorm.weight
            out[p + "post_attention_layernorm.weight"] = L.post_attention_layernorm.weight
            for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
                out[p + f"self_attn.{n}.weight"] = getattr(L, n).weight
            for n in ("gate_proj", "up_proj", "down_proj"):
                out[p + f"mlp.{n}.weight"] = getattr(L, n).weight
        return {k: v.detach().float().numpy() for k, v in out.items()}


def hf_config():
    c = dict(CONFIG)
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **c, "rope_scaling": None,
            "hidden_act": "silu", "attention_bias": False, "mlp_bias": False, "initializer_range": 0.02,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None, "tie_word_embeddings": False,
            "torch_dtype": "bfloat16", "use_cache": True}


def load_streams(corpus, sp):
    streams = []
    for d in DOMAINS:
        with open(os.path.join(corpus, d, "train.txt"), encoding="utf-8") as f:
            ids = sp.encode(f.read())
        streams.append(torch.tensor(ids, dtype=torch.int64))
        print(f"{d}: {len(ids)} train tokens", flush=True)
    return streams


def lr_at(step, horizon=DECAY_STEPS):
    """Linear warmup, then a linear decay over a fixed horizon (--horizon, DECAY_STEPS by default) to MIN_LR. The
    schedule does not depend on --steps, so the checkpoint after K steps of any run with the same horizon equals the
    result of a run with --steps K."""
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = min(1.0, (step - WARMUP) / (horizon - WARMUP))
    return LR - (LR - MIN_LR) * t


def save(model, out_dir, step, meta):
    d = os.path.join(out_dir, f"step-{step:05d}")
    export.write_hf_folder(d, hf_config(), model.hf_state(), meta)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--sp", required=True)
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-every", type=int, default=0)
    ap.add_argument("--time-steps", type=int, default=0)
    ap.add_argument("--horizon", type=int, default=DECAY_STEPS,
                    help="steps over which the learning rate decays to MIN_LR (the schedule, not the stopping point)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    sp = spm.SentencePieceProcessor()
    sp.load(args.sp)
    assert sp.get_piece_size() == CONFIG["vocab_size"]
    streams = load_streams(args.corpus, sp)
    model = Llama(CONFIG)
    nparam = sum(p.numel() for p in model.parameters())
    print(f"parameters: {nparam} ({nparam / 1e6:.2f}M)", flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(args.seed + 1)
    weights = torch.tensor(DOMAIN_WEIGHTS, dtype=torch.float64)
    steps = args.time_steps or args.steps
    log = None
    if not args.time_steps:
        os.makedirs(args.out, exist_ok=True)
        log = open(os.path.join(args.out, "log.jsonl"), "a", encoding="utf-8")
    t0 = time.time()
    seen = 0
    for step in range(steps):
        dom = torch.multinomial(weights, BATCH, replacement=True, generator=g)
        rows = []
        for b in range(BATCH):
            s = streams[dom[b]]
            off = int(torch.randint(0, len(s) - SEQ - 1, (1,), generator=g))
            rows.append(s[off: off + SEQ + 1])
        x = torch.stack(rows)
        lr = lr_at(step, args.horizon)
        for grp in opt.param_groups:
            grp["lr"] = lr
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        seen += BATCH * SEQ
        if (step + 1) % 10 == 0 or step == steps - 1:
            el = time.time() - t0
            rec = {"step": step + 1, "loss": round(loss.item(), 4), "lr": round(lr, 6),
                   "grad_norm": round(float(gn), 3), "tokens": seen, "elapsed_s": round(el, 1),
                   "tokens_per_s": round(seen / el, 1)}
            print(json.dumps(rec), flush=True)
            if log:
                log.write(json.dumps(rec) + "\n")
                log.flush()
        if log and args.save_every and (step + 1) % args.save_every == 0 and step + 1 < steps:
            save(model, args.out, step + 1, {"step": str(step + 1)})
    if args.time_steps:
        print(f"{steps} steps, {seen} tokens, {time.time() - t0:.1f} s, {seen / (time.time() - t0):.1f} tokens/s")
        return
    d = save(model, args.out, steps, {"step": str(steps)})
    print("final model:", d, f"{time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
