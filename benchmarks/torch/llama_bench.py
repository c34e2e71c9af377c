"""PyTorch eager timing of a LLaMA checkpoint, the side-by-side peer of `copal bench`.

Usage: python3 llama_bench.py MODEL_DIR [--prefill N] [--decode M] [--repeat R] [--dtype bf16|f32] [--threads T]

Reads config.json and model.safetensors with numpy (no transformers / safetensors packages needed), runs an
eager forward (RMSNorm, RoPE, GQA attention with a KV cache, SiLU MLP) and prints prefill and decode tokens/s as
the median of R rounds after one warm-up round, as JSON.
"""
import argparse, json, os, statistics, struct, time

import numpy as np
import torch


def read_safetensors(path, dtype):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = np.asarray(data[a:b])
        if info["dtype"] == "BF16":
            t = torch.from_numpy(raw.view(np.int16).astype(np.int32) << 16).view(torch.float32)
        elif info["dtype"] == "F16":
            t = torch.from_numpy(raw.view(np.float16).astype(np.float32))
        else:
            t = torch.from_numpy(raw.view(np.float32).copy())
        out[name] = t.reshape(info["shape"]).to(dtype)
    return out


class Llama:
    def __init__(self, model_dir, dtype):
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.w = read_safetensors(os.path.join(model_dir, "model.safetensors"), dtype)
        c = self.cfg
        self.heads, self.kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
        self.hd = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps, self.dtype = c["rms_norm_eps"], dtype
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        freqs = torch.outer(torch.arange(c["max_position_embeddings"], dtype=torch.float32), inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)
        self.head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def norm(self, x, w):
        v = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(v + self.eps)).to(self.dtype) * w

    def rope(self, x, pos):
        cos, sin = self.cos[pos][None, :, None, :], self.sin[pos][None, :, None, :]
        h = x.shape[-1] // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * cos + rot * sin

    @torch.no_grad()
    def forward(self, ids, cache, start, all_logits=False):
        n = ids.shape[0]
        pos = torch.arange(start, start + n)
        x = self.w["model.embed_tokens.weight"][ids][None]
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = self.norm(x, self.w[p + "input_layernorm.weight"])
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).view(1, n, self.heads, self.hd)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).view(1, n, self.kv, self.hd)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).view(1, n, self.kv, self.hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            cache[i][0][:, start:start + n], cache[i][1][:, start:start + n] = k, v
            kk = cache[i][0][:, :start + n].repeat_interleave(self.heads // self.kv, dim=2)
            vv = cache[i][1][:, :start + n].repeat_interleave(self.heads // self.kv, dim=2)
            s = torch.einsum("bqhd,bkhd->bhqk", q, kk) / self.hd ** 0.5
            mask = torch.full((n, start + n), float("-inf")).triu(start + 1).to(s.dtype)
            a = torch.softmax((s + mask).float(), dim=-1).to(self.dtype)
            o = torch.einsum("bhqk,bkhd->bqhd", a, vv).reshape(1, n, -1)
            x = x + o @ self.w[p + "self_attn.o_proj.weight"].T
            h = self.norm(x, self.w[p + "post_attention_layernorm.weight"])
            g = torch.nn.functional.silu(h @ self.w[p + "mlp.gate_proj.weight"].T) * (h @ self.w[p + "mlp.up_proj.weight"].T)
            x = x + g @ self.w[p + "mlp.down_proj.weight"].T
        x = self.norm(x if all_logits else x[:, -1:], self.w["model.norm.weight"])
        return x @ self.head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prefill", type=int, default=64)
    ap.add_argument("--decode", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    m = Llama(a.model, dtype)
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, m.cfg["vocab_size"], (a.prefill + a.decode,), generator=g)
    size = (1, a.prefill + a.decode, m.kv, m.hd)
    cache = [(torch.zeros(size, dtype=dtype), torch.zeros(size, dtype=dtype)) for _ in range(m.cfg["num_hidden_layers"])]
    pre, ppl, dec = [], [], []
    for r in range(a.repeat + 1):
        t = time.perf_counter(); m.forward(ids[:a.prefill], cache, 0); p = time.perf_counter() - t
        t = time.perf_counter(); m.forward(ids[:a.prefill], cache, 0, all_logits=True); q = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(a.decode):
            m.forward(ids[a.prefill + i:a.prefill + i + 1], cache, a.prefill + i)
        d = time.perf_counter() - t
        if r > 0:
            pre.append(a.prefill / p); ppl.append(a.prefill / q); dec.append(a.decode / d)
    # The median of the rounds' rates, as `copal bench` reports it: tokens over the median time would differ with an
    # even --repeat (the default), the harmonic mean of the middle two rates.
    print(json.dumps({"torch": torch.__version__, "dtype": a.dtype, "threads": a.threads, "prefill": a.prefill, "decode": a.decode,
                      "prefill_tokens_per_s": statistics.median(pre),
                      "perplexity_tokens_per_s": statistics.median(ppl),
                      "decode_tokens_per_s": statistics.median(dec)}))


if __name__ == "__main__":
    main()
