#!/usr/bin/env python3
"""Independent LLaMA-family reference for Copal (torch + numpy only; no transformers, no tokenizers).

Subcommands (run with the system python3; see tools/reference/README.md):
  tokcheck  --tokenizer FILE --golden FILE.jsonl    check the SentencePiece-BPE encoder/decoder on golden ids
  goldens   --model DIR --data DIR --out DIR        write stories260K_{logits,greedy,perplexity}.json
  logits    --model DIR --text TEXT                 print ids and the argmax/logsumexp of each position
  bench     --model DIR --prefill N --decode M      PyTorch eager speed (stored dtype, 2 threads)
  selftest                                          KV cache vs full forward, bf16 reader, RoPE variants
  variant-goldens --model DIR --variant V --text FILE --out FILE   the weights as a sliding-window Mistral, a Qwen3
                                                    or a Phi-3 with partial RoPE and longrope
  rope-goldens --out FILE                           YaRN inv_freq and cos/sin rows in float32
  stride-goldens --model DIR --data DIR --out FILE  perplexity with overlapping windows (Hugging Face's recipe)

Forward semantics follow HF LlamaForCausalLM / Qwen2ForCausalLM (eager attention):
  h = embed[ids]
  per layer: h += o_proj(attn(rmsnorm(h)));  h += down(silu(gate(x)) * up(x)) with x = rmsnorm(h)
  logits = lm_head(rmsnorm(h))   (lm_head = embed_tokens when lm_head.weight is absent)
  rmsnorm(x) = w * (x * rsqrt(mean(x^2) + eps)), computed in f32 (or f64 when the model runs in f64)
  RoPE: rotate-half layout, inv_freq[i] = 1 / theta^(2i/head_dim), rope_scaling none / linear / llama3 / yarn
  GQA: kv heads repeated num_heads / num_kv_heads times (repeat_kv), causal softmax(q k^T / sqrt(head_dim)).
  Sliding window (Mistral; Qwen2 and Qwen3 with use_sliding_window): a sliding layer's query at p sees keys
  t > p - window. Qwen3: q_norm / k_norm RMS-normalize each query and key head before RoPE.
  Phi-3 (Phi3ForCausalLM): qkv_proj holds q, k, v rows in that order and gate_up_proj gate then up (HF's split and
  chunk(2)); RoPE turns the first head_dim * partial_rotary_factor elements of each head; longrope divides each
  frequency by its own factor, short_factor below original_max_position_embeddings and long_factor from it on (what
  transformers computes while it generates token by token), and scales cos and sin by the attention factor.
  Granite (GraniteForCausalLM): h = embed[ids] * embedding_multiplier; each residual add takes its branch times
  residual_multiplier; scores are q k^T * attention_multiplier (GraniteConfig's default 1.0, not 1/sqrt(head_dim));
  logits = lm_head(rmsnorm(h)) / logits_scaling.
  OLMo 2 (Olmo2ForCausalLM): no input norms; h += post_attention_layernorm(o_proj(attn(h))) and
  h += post_feedforward_layernorm(down(silu(gate(h)) * up(h))); q_norm / k_norm RMS-normalize the whole q and k
  projections (all heads at once) before RoPE.
  Gemma 3 text (Gemma3ForCausalLM): h = embed[ids] * sqrt(hidden) (the normalizer an f32 tensor cast to the model's
  dtype); every RMSNorm is x * rsqrt(mean(x^2) + eps) * (1 + w), in float32 (float64 for float64), then cast back;
  per layer x = input_layernorm(h), h += post_attention_layernorm(o_proj(attn(x))), and
  h += post_feedforward_layernorm(down(gelu_tanh(gate(y)) * up(y))) with y = pre_feedforward_layernorm(h); q_norm /
  k_norm per head as Qwen3; scores q k^T * query_pre_attn_scalar^-0.5; sliding layers (layer_types, else layer i
  slides unless (i + 1) % sliding_window_pattern == 0) attend through sliding_window and turn q, k with
  rope_local_base_freq and no scaling, global layers with rope_theta and rope_scaling.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

torch.set_num_threads(2)

# ----------------------------------------------------------------------------------------------------------
# safetensors reader (own code: 8-byte little-endian header length, JSON header, raw little-endian data)
# ----------------------------------------------------------------------------------------------------------

_NP_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
              "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8}


def read_safetensors(path):
    """Returns {name: (dtype_str, numpy array)}; BF16 arrays are returned as raw uint16 (memory-mapped)."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen).decode("utf-8"))
    base = 8 + hlen
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _NP_DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        start, end = info["data_offsets"]
        raw = mm[base + start: base + end]
        arr = raw.view(_NP_DTYPES[dt]).reshape(info["shape"])
        out[name] = (dt, arr)
    return out


def bf16_to_f32(u16):
    """BF16 bits -> float32: widen to uint32 and shift into the high half."""
    return (u16.astype(np.uint32) << 16).view(np.float32)


def to_torch(dt, arr, want):
    """want: torch dtype, or None for 'the stored dtype where torch CPU supports it'."""
    if dt == "BF16":
        if want is None or want == torch.bfloat16:
            return torch.from_numpy(np.ascontiguousarray(arr).view(np.int16).copy()).view(torch.bfloat16)
        return torch.from_numpy(bf16_to_f32(arr)).to(want)
    t = torch.from_numpy(np.array(arr))  # copy out of the memmap
    if want is None:
        return t
    return t.to(want)


def load_model_tensors(model_dir, want):
    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors in {model_dir}")
    tensors, stored = {}, {}
    for fn in files:
        for name, (dt, arr) in read_safetensors(os.path.join(model_dir, fn)).items():
            tensors[name] = to_torch(dt, arr, want)
            stored[name] = dt
    return tensors, stored


# ----------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------

def is_phi3(cfg):
    return (cfg.get("architectures") or [None])[0] == "Phi3ForCausalLM" or cfg.get("model_type") == "phi3"


def from_rope_parameters(cfg):
    """transformers 5 writes RoPE's settings as one object, rope_parameters (rope_type, rope_theta, the scaling's fields,
    partial_rotary_factor, original_max_position_embeddings), where transformers 4 wrote the top-level rope_theta,
    rope_scaling and partial_rotary_factor. Returns cfg with those top-level fields filled from rope_parameters (its
    values first, as transformers 5's setdefault keeps them), so the rest of this reference reads either form."""
    rp = cfg.get("rope_parameters")
    if not rp or any(isinstance(v, dict) for v in rp.values()):  # absent, or per layer type (Gemma 3's form)
        return cfg
    if cfg.get("rope_scaling"):
        raise ValueError("config holds both rope_scaling and rope_parameters")
    cfg = dict(cfg)
    for k in ("rope_theta", "partial_rotary_factor", "original_max_position_embeddings"):
        if k in rp:
            cfg[k] = rp[k]
    kind = rp.get("rope_type", rp.get("type", "default"))
    rest = {k: v for k, v in rp.items() if k not in ("rope_theta", "partial_rotary_factor", "type")}
    cfg["rope_scaling"] = None if kind == "default" else dict(rest, rope_type=kind)
    return cfg


def rope_inv_freq(cfg, head_dim, dtype, rounded_powers=False):
    """(inv_freq, attention factor, inv_freq from the original context on, that context) as HF computes them
    (default / linear / llama3 / longrope / yarn), in the given dtype (HF: float32). head_dim: the width RoPE turns.
    rounded_powers: theta^(2i/d) as the exact power rounded to the dtype, not torch.pow's (in float32 torch 1.13 is an
    ulp off at a few pairs, e.g. pair 37 of theta 1e6 over 128; Copal takes the rounded exact power everywhere)."""
    theta = float(cfg.get("rope_theta", 10000.0))
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype) / head_dim
    if rounded_powers:
        base = float(torch.tensor(theta, dtype=dtype))
        powers = torch.tensor([math.pow(base, float(e)) for e in exponents], dtype=torch.float64).to(dtype)
    else:
        powers = theta ** exponents
    inv = 1.0 / powers
    rs = cfg.get("rope_scaling")
    attention_factor = 1.0
    if rs:
        kind = rs.get("rope_type", rs.get("type", "default"))
        older = rs.get("type")
        if isinstance(older, str) and isinstance(rs.get("rope_type"), str) and not (
                older == kind or (is_phi3(cfg) and {older, kind} <= {"su", "yarn", "longrope"})):
            # transformers 4 copies 'type' over 'rope_type', 5 keeps 'rope_type': Copal refuses such a config too
            raise ValueError(f"rope_scaling names two scalings: type {older!r}, rope_type {kind!r}")
        if kind == "default":
            pass
        elif kind in ("longrope", "su") or (kind == "yarn" and is_phi3(cfg)):  # Phi3Config maps su and yarn to longrope
            # HF _compute_longrope_parameters: the original context is the top-level field (Phi3Config's default 4096;
            # rope_scaling's own copy is not read), and where it is given the factor is the ratio of the contexts
            given = cfg.get("original_max_position_embeddings") or (4096 if is_phi3(cfg) else None)
            original = given or cfg["max_position_embeddings"]
            factor = cfg["max_position_embeddings"] / given if given else rs.get("factor", 1.0)
            attention_factor = rs.get("attention_factor") or (
                1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original)))
            short = 1.0 / (torch.tensor(rs["short_factor"], dtype=dtype) * powers)
            long = 1.0 / (torch.tensor(rs["long_factor"], dtype=dtype) * powers)
            return short, attention_factor, long, original
        elif kind == "yarn":
            inv, attention_factor = yarn_inv_freq(cfg, rs, head_dim, theta, powers, dtype)
        elif kind == "linear":
            inv = inv / float(rs["factor"])
        elif kind == "dynamic":
            # HF dynamic NTK: base * (factor * L / max_pos - (factor - 1)) ** (d / (d - 2)) with L the sequence length
            # floored at max_position_embeddings, where the power is 1: the plain frequencies within the context (the
            # only lengths this reference and Copal run)
            float(rs["factor"])
        elif kind == "llama3":
            factor = float(rs["factor"])
            lo = float(rs["low_freq_factor"])
            hi = float(rs["high_freq_factor"])
            old_ctx = float(rs["original_max_position_embeddings"])
            lo_wavelen = old_ctx / lo
            hi_wavelen = old_ctx / hi
            wavelen = 2 * math.pi / inv
            # long wavelengths (low frequencies) are divided by factor, short ones kept,
            # the band in between is interpolated smoothly.
            scaled = torch.where(wavelen > lo_wavelen, inv / factor, inv)
            smooth = (old_ctx / wavelen - lo) / (hi - lo)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = (wavelen >= hi_wavelen) & (wavelen <= lo_wavelen)
            inv = torch.where(medium, smoothed, scaled)
        else:
            raise ValueError(f"rope_scaling type {kind!r} not supported by this reference")
    return inv, attention_factor, inv, None


def yarn_inv_freq(cfg, rs, dim, theta, powers, dtype):
    """YaRN (Peng et al. 2023, "NTK-by-parts" plus an attention scale) with the inputs resolved as transformers 5.x
    resolves them: (inv_freq, attention factor). Written from the paper's formulas and HF's documented defaults.

    L = the original context: a top-level original_max_position_embeddings first, then rope_scaling's, then the
    model's max_position_embeddings. s = rope_scaling's factor (required; an explicit null means max / L). A pair
    with rotation count r = L / wavelength beyond beta_fast (default 32) keeps its frequency, one below beta_slow
    (default 1) is divided by s, and the pairs between blend the two along a linear ramp over the pair index whose
    ends are the (fractional) pair indices where r equals beta_fast and beta_slow: i(r) = d ln(L / (2 pi r)) / (2 ln
    theta), widened outward to whole numbers unless truncate is false, kept within [0, d - 1], and 0.001 apart when
    they meet. The attention factor scales cos and sin: rope_scaling's attention_factor, else
    g(s, mscale) / g(s, mscale_all_dim) when both are non-zero, else g(s, 1), with g(s, k) = 0.1 k ln s + 1 (1 for
    s <= 1)."""
    L = cfg.get("original_max_position_embeddings") or rs.get("original_max_position_embeddings") \
        or cfg["max_position_embeddings"]
    s = rs["factor"]
    if s is None:
        s = cfg["max_position_embeddings"] / L

    def g(scale, k):
        return 1.0 if scale <= 1 else 0.1 * k * math.log(scale) + 1.0

    attention = rs.get("attention_factor")
    if attention is None:
        m, m_all = rs.get("mscale"), rs.get("mscale_all_dim")
        attention = g(s, m) / g(s, m_all) if m and m_all else g(s, 1)

    def pair_at(rotations):
        return dim * math.log(L / (rotations * 2 * math.pi)) / (2 * math.log(theta))

    start, end = pair_at(rs.get("beta_fast") or 32), pair_at(rs.get("beta_slow") or 1)
    if rs.get("truncate", True):
        start, end = math.floor(start), math.ceil(end)
    start, end = max(start, 0), min(end, dim - 1)
    if start == end:
        end += 0.001
    # share of the divided-by-s frequency: 0 below the ramp (fast pairs), 1 above it (slow pairs)
    ramp = ((torch.arange(dim // 2, dtype=dtype) - start) / (end - start)).clamp(0, 1)
    keep = 1 - ramp
    return (1.0 / (s * powers)) * (1 - keep) + (1.0 / powers) * keep, attention


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def is_gemma3(cfg):
    return (cfg.get("architectures") or [None])[0] == "Gemma3ForCausalLM" or cfg.get("model_type") == "gemma3_text"


def gemma3_layer_types(cfg, n_layers):
    """Gemma3TextConfig's layer_types, or from sliding_window_pattern (default 6): layer i slides unless (i + 1) is a
    multiple of the pattern."""
    types = cfg.get("layer_types")
    if types is None:
        pattern = cfg.get("sliding_window_pattern", 6)
        types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n_layers)]
    return types


def sliding_windows(cfg, n_layers):
    """Each layer's attention window (0: none), with the defaults of the HF config classes: MistralConfig's
    sliding_window is 4096 when absent (null: none), on every layer; Qwen2Config's and Qwen3Config's apply only with
    use_sliding_window, to the layers from max_window_layers (28) on, or to those layer_types names
    "sliding_attention"; LlamaConfig has none."""
    arch = (cfg.get("architectures") or [None])[0] or {"mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
                                                       "qwen3": "Qwen3ForCausalLM", "phi3": "Phi3ForCausalLM"}.get(cfg.get("model_type"))
    if is_gemma3(cfg):
        window = cfg.get("sliding_window", 4096)  # Gemma3TextConfig's default
        return [window if t == "sliding_attention" else 0 for t in gemma3_layer_types(cfg, n_layers)]
    if arch == "MistralForCausalLM":
        window = cfg["sliding_window"] if "sliding_window" in cfg else 4096
        first = 0
    elif arch == "Phi3ForCausalLM":
        window = cfg.get("sliding_window")  # Phi3Config: none unless set, then every layer
        first = 0
    elif arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM") and cfg.get("use_sliding_window"):
        window = cfg["sliding_window"] if "sliding_window" in cfg else 4096
        first = cfg.get("max_window_layers", 28)
    else:
        return [0] * n_layers
    if not window:
        return [0] * n_layers
    types = cfg.get("layer_types")  # read by Qwen2Config and Qwen3Config only, the only ones that reach here with it
    if types is not None and arch != "MistralForCausalLM":
        return [window if types[i] == "sliding_attention" else 0 for i in range(n_layers)]
    return [window if i >= first else 0 for i in range(n_layers)]


def split_fused(t, prefix, q_rows, kv_rows):
    """Phi-3's fused tensors as the separate projections, as HF's Phi3Attention and Phi3MLP split them."""
    qkv = t.pop(prefix + "self_attn.qkv_proj.weight", None)
    if qkv is not None:
        t[prefix + "self_attn.q_proj.weight"] = qkv[:q_rows]
        t[prefix + "self_attn.k_proj.weight"] = qkv[q_rows:q_rows + kv_rows]
        t[prefix + "self_attn.v_proj.weight"] = qkv[q_rows + kv_rows:]
    gate_up = t.pop(prefix + "mlp.gate_up_proj.weight", None)
    if gate_up is not None:
        t[prefix + "mlp.gate_proj.weight"], t[prefix + "mlp.up_proj.weight"] = gate_up.chunk(2, dim=0)


class Llama:
    def __init__(self, model_dir, dtype=None, rope_dtype=None, config_changes=None, extra_tensors=None):
        """dtype: torch dtype for all weights and activations, or None = the stored dtype.
        rope_dtype: dtype of inv_freq and the angle product (HF: float32); default = compute dtype,
        but never below float32. config_changes: fields that replace config.json's. extra_tensors: name -> float32
        numpy array, added to the checkpoint's tensors."""
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        cfg.update(config_changes or {})
        self.cfg = cfg = from_rope_parameters(cfg)
        self.tensors, self.stored = load_model_tensors(model_dir, dtype)
        for name, arr in (extra_tensors or {}).items():
            self.tensors[name] = to_torch("F32", arr, dtype)
            self.stored[name] = "F32"
        t = self.tensors
        self.dtype = t["model.embed_tokens.weight"].dtype
        self.hidden = cfg["hidden_size"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        qwen3 = (cfg.get("architectures") or [None])[0] == "Qwen3ForCausalLM" or cfg.get("model_type") == "qwen3"
        phi3 = is_phi3(cfg)
        olmo2 = (cfg.get("architectures") or [None])[0] == "Olmo2ForCausalLM" or cfg.get("model_type") == "olmo2"
        self.gemma3 = gemma3 = is_gemma3(cfg)
        # Qwen3Config's head_dim default: 128; Gemma3TextConfig's: 256
        self.head_dim = cfg.get("head_dim") or (128 if qwen3 else 256 if gemma3 else self.hidden // self.n_heads)
        # Phi3Config's partial_rotary_factor: RoPE turns the first int(head_dim * factor) elements of a head
        self.rotary_dim = int(self.head_dim * cfg.get("partial_rotary_factor", 1.0)) if phi3 else self.head_dim
        self.eps = float(cfg.get("rms_norm_eps", 1e-5 if phi3 or olmo2 else 1e-6))  # Phi3Config's and Olmo2Config's: 1e-5
        self.vocab = cfg["vocab_size"]
        act = cfg.get("hidden_activation", "gelu_pytorch_tanh") if gemma3 else cfg.get("hidden_act", "silu")
        if act not in ("silu", "swish", "gelu_pytorch_tanh"):
            raise ValueError(f"activation {act} not supported")
        self.gelu = act == "gelu_pytorch_tanh"
        self.embed = t["model.embed_tokens.weight"]
        self.lm_head = t.get("lm_head.weight", self.embed)  # tied embeddings when lm_head is absent
        if cfg.get("tie_word_embeddings"):  # HF tie_weights(): the head is the embedding, a stored copy is not read
            self.lm_head = self.embed
        if gemma3 and cfg.get("tie_word_embeddings", True):  # Gemma3TextConfig ties by default, whatever is stored
            self.lm_head = self.embed
        if rope_dtype is None:
            rope_dtype = torch.float64 if self.dtype == torch.float64 else torch.float32
        self.rope_dtype = rope_dtype
        self.inv_freq, self.attn_factor, self.inv_freq_long, self.rope_switch = rope_inv_freq(cfg, self.rotary_dim, rope_dtype)
        if gemma3:
            for k in ("final_logit_softcapping", "attn_logit_softcapping"):
                if cfg.get(k) is not None:
                    raise ValueError(f"{k} is not supported by this reference")
            # global layers: rope_theta (Gemma3TextConfig's default 1e6) with rope_scaling; local: their own base, none
            self.inv_freq, _, self.inv_freq_long, _ = rope_inv_freq(dict(cfg, rope_theta=cfg.get("rope_theta", 1e6)), self.rotary_dim, rope_dtype)
            local = {"rope_theta": cfg.get("rope_local_base_freq", 10000.0), "rope_scaling": None}
            self.local_inv_freq = rope_inv_freq(local, self.rotary_dim, rope_dtype)[0]
        self.layers = []
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            split_fused(t, p, self.n_heads * self.head_dim, self.n_kv * self.head_dim)
            g = lambda n: t.get(p + n)  # noqa: E731
            self.layers.append({
                "in_norm": g("input_layernorm.weight"), "post_norm": g("post_attention_layernorm.weight"),
                "q": g("self_attn.q_proj.weight"), "k": g("self_attn.k_proj.weight"),
                "v": g("self_attn.v_proj.weight"), "o": g("self_attn.o_proj.weight"),
                "qb": g("self_attn.q_proj.bias"), "kb": g("self_attn.k_proj.bias"),
                "vb": g("self_attn.v_proj.bias"), "ob": g("self_attn.o_proj.bias"),
                # Qwen3: an RMSNorm over each query head and each key head, before RoPE
                "q_norm": g("self_attn.q_norm.weight"), "k_norm": g("self_attn.k_norm.weight"),
                "gate": g("mlp.gate_proj.weight"), "up": g("mlp.up_proj.weight"), "down": g("mlp.down_proj.weight"),
                "gateb": g("mlp.gate_proj.bias"), "upb": g("mlp.up_proj.bias"), "downb": g("mlp.down_proj.bias"),
                "post_ffn_norm": g("post_feedforward_layernorm.weight"),
                "pre_ffn_norm": g("pre_feedforward_layernorm.weight"),
            })
        self.norm = t["model.norm.weight"]
        self.windows = sliding_windows(cfg, self.n_layers)
        # GraniteConfig's four multipliers (each 1.0 when absent); the other classes have none
        granite = (cfg.get("architectures") or [None])[0] == "GraniteForCausalLM" or cfg.get("model_type") == "granite"
        m = (lambda n: float(cfg.get(n, 1.0))) if granite else (lambda n: 1.0)  # noqa: E731
        self.embedding_multiplier, self.residual_multiplier, self.logits_scaling = (
            m("embedding_multiplier"), m("residual_multiplier"), m("logits_scaling"))
        self.attention_scale = m("attention_multiplier") if granite else None
        if gemma3:
            self.attention_scale = float(cfg.get("query_pre_attn_scalar", 256)) ** -0.5
            # Gemma3TextScaledWordEmbedding: sqrt(hidden) as an f32 tensor, cast to the weights' dtype
            self.embedding_multiplier = torch.tensor(self.hidden ** 0.5, dtype=torch.float32).to(self.dtype)
        # OLMo 2: norms on each branch's output instead of its input, and q/k norms across all heads
        self.olmo2 = olmo2

    # HF LlamaRMSNorm: in float32 (or wider), then weight * x.to(input dtype)
    def rmsnorm(self, x, w):
        in_dtype = x.dtype
        xf = x.to(torch.float32) if in_dtype not in (torch.float32, torch.float64) else x
        var = xf.pow(2).mean(-1, keepdim=True)
        xf = xf * torch.rsqrt(var + self.eps)
        if self.olmo2:  # Olmo2RMSNorm multiplies by the weight before casting back
            return (w.to(xf.dtype) * xf).to(in_dtype)
        if self.gemma3:  # Gemma3RMSNorm: weight stored as an offset from 1, applied before casting back
            return (xf * (1.0 + w.to(xf.dtype))).to(in_dtype)
        return w * xf.to(in_dtype)

    @staticmethod
    def linear(x, w, b=None):
        y = x @ w.t()
        return y if b is None else y + b

    def rope(self, positions, inv_freq=None):
        ang = positions.to(self.rope_dtype)[:, None] * (self.inv_freq if inv_freq is None else inv_freq)[None, :]
        if self.rope_switch is not None:  # longrope: the long factors from the original context on
            later = positions.to(self.rope_dtype)[:, None] * self.inv_freq_long[None, :]
            ang = torch.where(positions[:, None] < self.rope_switch, ang, later)
        emb = torch.cat((ang, ang), dim=-1)
        cos = (emb.cos() * self.attn_factor).to(self.dtype)
        sin = (emb.sin() * self.attn_factor).to(self.dtype)
        return cos, sin

    def forward(self, ids, cache=None, start=0):
        """ids: 1-D LongTensor of new tokens at positions start..start+T-1. cache: list of [k, v] per layer
        (k, v: [n_kv, past, head_dim]) extended in place, or None (no cache: start must be 0).
        Returns logits [T, vocab] in the model dtype."""
        T = ids.shape[0]
        h = self.embed[ids] * self.embedding_multiplier if self.gemma3 or self.embedding_multiplier != 1.0 else self.embed[ids]
        r = self.residual_multiplier
        pos = torch.arange(start, start + T)
        cos, sin = global_rope = self.rope(pos)
        local_rope = self.rope(pos, self.local_inv_freq) if self.gemma3 else global_rope
        hd, nh, nkv = self.head_dim, self.n_heads, self.n_kv
        rep = nh // nkv
        for li, L in enumerate(self.layers):
            cos, sin = local_rope if self.windows[li] else global_rope  # Gemma 3's sliding layers: the local base
            x = h if self.olmo2 else self.rmsnorm(h, L["in_norm"])
            q = self.linear(x, L["q"], L["qb"])
            k = self.linear(x, L["k"], L["kb"])
            if self.olmo2:  # over the whole projection, all heads at once
                q = self.rmsnorm(q, L["q_norm"])
                k = self.rmsnorm(k, L["k_norm"])
            q = q.view(T, nh, hd)
            k = k.view(T, nkv, hd)
            if L["q_norm"] is not None and not self.olmo2:  # Qwen3: each head
                q = self.rmsnorm(q, L["q_norm"])
                k = self.rmsnorm(k, L["k_norm"])
            q = q.transpose(0, 1)    # [nh, T, hd]
            k = k.transpose(0, 1)    # [nkv, T, hd]
            v = self.linear(x, L["v"], L["vb"]).view(T, nkv, hd).transpose(0, 1)
            rd = self.rotary_dim  # the part RoPE turns; the rest passes (HF apply_rotary_pos_emb with a narrower cos)
            q = torch.cat((q[..., :rd] * cos + rotate_half(q[..., :rd]) * sin, q[..., rd:]), dim=-1)
            k = torch.cat((k[..., :rd] * cos + rotate_half(k[..., :rd]) * sin, k[..., rd:]), dim=-1)
            if cache is not None:
                if len(cache) <= li:
                    cache.append([k, v])
                else:
                    cache[li][0] = torch.cat((cache[li][0], k), dim=1)
                    cache[li][1] = torch.cat((cache[li][1], v), dim=1)
                k, v = cache[li]
            S = k.shape[1]
            # repeat_kv: kv head j serves query heads j*rep .. j*rep+rep-1
            k = k[:, None].expand(nkv, rep, S, hd).reshape(nh, S, hd)
            v = v[:, None].expand(nkv, rep, S, hd).reshape(nh, S, hd)
            if self.attention_scale is None:
                scores = (q @ k.transpose(1, 2)) / math.sqrt(hd)                  # [nh, T, S]
            else:
                scores = (q @ k.transpose(1, 2)) * self.attention_scale           # Granite

            qpos = torch.arange(S - T, S)[:, None]
            kpos = torch.arange(S)[None, :]
            hidden = kpos > qpos
            if self.windows[li]:
                hidden = hidden | (kpos <= qpos - self.windows[li])
            scores = scores.masked_fill(hidden, float("-inf"))
            # HF eager: softmax in float32, then back to the activation dtype
            sdt = torch.float64 if scores.dtype == torch.float64 else torch.float32
            probs = torch.softmax(scores.to(sdt), dim=-1).to(q.dtype)
            a = (probs @ v).transpose(0, 1).reshape(T, nh * hd)
            o = self.linear(a, L["o"], L["ob"]) * r
            h = h + (self.rmsnorm(o, L["post_norm"]) if self.olmo2 or self.gemma3 else o)
            x = h if self.olmo2 else self.rmsnorm(h, L["pre_ffn_norm"] if self.gemma3 else L["post_norm"])
            g = self.linear(x, L["gate"], L["gateb"])
            u = self.linear(x, L["up"], L["upb"])
            act = torch.nn.functional.gelu(g, approximate="tanh") if self.gelu else torch.nn.functional.silu(g)
            f = self.linear(act * u, L["down"], L["downb"]) * r
            h = h + (self.rmsnorm(f, L["post_ffn_norm"]) if self.olmo2 or self.gemma3 else f)
        h = self.rmsnorm(h, self.norm)
        logits = h @ self.lm_head.t()
        return logits / self.logits_scaling if self.logits_scaling != 1.0 else logits


# ----------------------------------------------------------------------------------------------------------
# Tokenizer: llama2.c / SentencePiece-style BPE over the vocab + merges of an HF tokenizer.json (own code)
# ----------------------------------------------------------------------------------------------------------

class SpBpe:
    SPACE = "\u2581"

    def __init__(self, tokenizer_json):
        with open(tokenizer_json, encoding="utf-8") as f:
            d = json.load(f)
        m = d["model"]
        self.vocab = m["vocab"]
        self.pieces = {i: p for p, i in self.vocab.items()}
        self.rank = {}
        for r, mg in enumerate(m["merges"]):
            a, b = mg if isinstance(mg, list) else mg.split(" ", 1)
            self.rank.setdefault((a, b), r)
        # literal special-token text matched before BPE (HF added tokens with special=true, normalized=false)
        self.specials = sorted(((t["content"], t["id"]) for t in d.get("added_tokens", [])),
                               key=lambda x: -len(x[0]))
        self.special_ids = {i for _, i in self.specials}
        self.special_first = {s[0] for s, _ in self.specials if s}
        self.byte_id = {b: self.vocab[f"<0x{b:02X}>"] for b in range(256)}
        self.byte_of = {i: b for b, i in self.byte_id.items()}
        self.unk = self.vocab.get("<unk>", 0)
        self.bos = self.vocab.get("<s>", 1)
        # No piece contains U+2581 after its first character, so no merge can cross a word start: a split at
        # every U+2581 is exact and lets words be cached.
        self.split_words = all(self.SPACE not in p[1:] for p in self.vocab)
        self._cache = {}

    def _bpe_word(self, text):
        """Merges by rank (lowest first; leftmost on ties), as HF BPE does."""
        syms = list(text)
        while len(syms) > 1:
            best, at = None, -1
            for i in range(len(syms) - 1):
                r = self.rank.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            syms[at: at + 2] = [syms[at] + syms[at + 1]]
        ids = []
        for s in syms:
            if s in self.vocab:
                ids.append(self.vocab[s])
            else:  # byte fallback (only single characters can be missing)
                ids.extend(self.byte_id[b] for b in s.encode("utf-8"))
        return ids

    def _encode_plain(self, text):
        if not text:
            return []
        # normalizer: Prepend U+2581, then replace every " " by U+2581
        norm = (self.SPACE + text).replace(" ", self.SPACE)
        if not self.split_words:
            return self._bpe_word(norm)
        ids = []
        start = 0
        n = len(norm)
        while start < n:
            end = norm.find(self.SPACE, start + 1)
            if end < 0:
                end = n
            w = norm[start:end]
            c = self._cache.get(w)
            if c is None:
                c = self._bpe_word(w)
                if len(w) < 64:
                    self._cache[w] = c
            ids.extend(c)
            start = end
        return ids

    def encode(self, text, bos=True):
        ids = [self.bos] if bos else []
        # split on literal special-token text (longest first at each position), normalize each other segment
        i, seg = 0, 0
        while i < len(text):
            hit = None
            if text[i] in self.special_first:
                for s, sid in self.specials:
                    if text.startswith(s, i):
                        hit = (s, sid)
                        break
            if hit:
                ids.extend(self._encode_plain(text[seg:i]))
                ids.append(hit[1])
                i += len(hit[0])
                seg = i
            else:
                i += 1
        ids.extend(self._encode_plain(text[seg:]))
        return ids

    def decode(self, ids, skip_special=True):
        """Replace U+2581 by ' ', byte tokens to bytes (UTF-8; an invalid run gives one U+FFFD per byte),
        concatenate, strip one leading space (HF Strip decoder, start=1)."""
        out, buf = [], []

        def flush():
            if buf:
                bs = bytes(buf)
                try:
                    out.append(bs.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append("\ufffd" * len(bs))
                buf.clear()

        for i in ids:
            if skip_special and i in self.special_ids:
                continue
            if i in self.byte_of:
                buf.append(self.byte_of[i])
                continue
            flush()
            out.append(self.pieces[i].replace(self.SPACE, " "))
        flush()
        s = "".join(out)
        return s[1:] if s.startswith(" ") else s


def cmd_tokcheck(args):
    tok = SpBpe(args.tokenizer)
    n = bad = 0
    with open(args.golden, encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            n += 1
            ids = tok.encode(case["text"])
            problems = []
            if ids != case["ids"]:
                problems.append(f"ids {ids} != {case['ids']}")
            if tok.decode(case["ids"]) != case["decoded"]:
                problems.append(f"decoded {tok.decode(case['ids'])!r} != {case['decoded']!r}")
            if tok.decode(case["ids"], skip_special=False) != case["decoded_raw"]:
                problems.append(f"decoded_raw {tok.decode(case['ids'], False)!r} != {case['decoded_raw']!r}")
            if problems:
                bad += 1
                print(f"MISMATCH {case['text']!r}: " + "; ".join(problems))
    print(f"{n - bad}/{n} golden cases match (ids, decoded, decoded_raw)")
    return 0 if bad == 0 else 1


# ----------------------------------------------------------------------------------------------------------
# Goldens for stories260K
# ----------------------------------------------------------------------------------------------------------

PUBLISHED_GREEDY_61 = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396,
                       267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261,
                       370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267,
                       414, 270, 333, 415]


LOGIT_DECIMALS = 6


def fmt(x):
    """Logits as JSON numbers rounded to 6 decimal places: absolute rounding error <= 5e-7, 200x below the
    1e-4 logits tolerance, and it keeps the full 512 logits of every position under 1 MB."""
    return round(x, LOGIT_DECIMALS)


def nll_of_window(model, ids):
    logits = model.forward(torch.tensor(ids, dtype=torch.long))
    lp = torch.log_softmax(logits[:-1], dim=-1)
    tgt = torch.tensor(ids[1:], dtype=torch.long)
    return float(-lp.gather(1, tgt[:, None]).sum())


def perplexity(model, ids, seqlen):
    nwin = len(ids) // seqlen
    total = 0.0
    per_window = []
    for w in range(nwin):
        s = nll_of_window(model, ids[w * seqlen:(w + 1) * seqlen])
        per_window.append(s)
        total += s
    count = nwin * (seqlen - 1)
    mean = total / count
    return {"seqlen": seqlen, "windows": nwin, "tokens_used": nwin * seqlen, "tokens_dropped": len(ids) - nwin * seqlen,
            "predicted_tokens": count, "nll_sum": total, "nll_mean": mean, "ppl": math.exp(mean),
            "first_window_nll_mean": per_window[0] / (seqlen - 1) if per_window else None}


def pick_passage(tok, eval_text, target=120):
    """The first story of eval.txt, cut at the sentence end whose token count (with BOS) is closest to target."""
    story = eval_text.split("<|endoftext|>")[0].strip()
    best = None
    for i, ch in enumerate(story):
        if ch in ".!?" and (i + 1 == len(story) or story[i + 1] in " \n\""):
            end = i + 1
            if end < len(story) and story[end] == '"':
                end += 1
            n = len(tok.encode(story[:end]))
            if best is None or abs(n - target) < abs(best[1] - target):
                best = (story[:end], n)
    return best[0]


def cmd_goldens(args):
    torch.set_num_threads(args.threads)
    model_dir = args.model
    data = args.data
    tok = SpBpe(os.path.join(model_dir, "tokenizer.json"))
    model = Llama(model_dir, dtype=torch.float64)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(data, "text", "tinystories", "eval.txt"), encoding="utf-8") as f:
        ts_eval = f.read()

    common = {"model": "stories260K", "dtype": "float64",
              "computation": "independent torch forward (tools/reference/llama_reference.py), weights F32 "
                             "widened to float64, every op including RoPE angles, RMSNorm and softmax in float64"}

    # 1. logits
    passage = pick_passage(tok, ts_eval)
    cases = [("bos_only", ""), ("once_upon_a_time", "Once upon a time"), ("tinystories_eval_passage", passage),
             ("digits_punctuation", "On 12/03/2024, Tom (age 7) paid $3.50 for 2 apples & 1 pear; wow!?")]
    out_cases = []
    with torch.no_grad():
        for name, text in cases:
            ids = tok.encode(text)
            logits = model.forward(torch.tensor(ids, dtype=torch.long))
            out_cases.append({"name": name, "text": text, "ids": ids,
                              "argmax": [int(a) for a in logits.argmax(-1)],
                              "logsumexp": [fmt(v) for v in torch.logsumexp(logits, -1).tolist()],
                              "logits": [[fmt(v) for v in row] for row in logits.tolist()]})
            print(f"logits case {name}: {len(ids)} tokens")
    write_json(os.path.join(args.out, "stories260K_logits.json"),
               dict(common, rounding=f"logits and logsumexp rounded to {LOGIT_DECIMALS} decimal places (abs error <= 5e-7)",
                    tokenization="BOS (1) + SentencePiece-BPE of text, HF tokenizer.json semantics",
                    cases=out_cases))

    # 2. greedy
    with torch.no_grad():
        seq = [1]
        stop = "max_steps"
        for _ in range(256):
            logits = model.forward(torch.tensor(seq, dtype=torch.long))
            nxt = int(logits[-1].argmax())
            if nxt == 1:
                stop = "bos"
                break
            seq.append(nxt)
        # cross-check the KV-cache path against the full recompute
        cache = []
        cseq = [1]
        lg = model.forward(torch.tensor([1]), cache, 0)
        for p in range(1, len(seq)):
            nxt = int(lg[-1].argmax())
            cseq.append(nxt)
            lg = model.forward(torch.tensor([nxt]), cache, p)
        assert cseq == seq, "KV-cache greedy differs from full recompute"
    text = tok.decode(seq)
    with open(os.path.join(model_dir, "reference_greedy_t0.txt"), encoding="utf-8") as f:
        published = f.read()
    greedy = dict(common, start=[1], max_new_tokens=256, stop_rule="stop when argmax = 1 (BOS), as llama2.c run.c",
                  stopped_by=stop, new_tokens=len(seq) - 1, ids=seq, text=text,
                  matches_published_61_ids=seq[:61] == PUBLISHED_GREEDY_61,
                  published_text_is_prefix=text.startswith(published.rstrip("\n")),
                  text_equals_published=text == published or text == published.rstrip("\n"))
    write_json(os.path.join(args.out, "stories260K_greedy.json"), greedy)
    print(f"greedy: {len(seq) - 1} new tokens, stopped by {stop}; first 61 match published: "
          f"{greedy['matches_published_61_ids']}; text == published: {greedy['text_equals_published']}")
    if not greedy["text_equals_published"]:
        a, b = text, published
        k = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
        print(f"  first difference at char {k}: ours {a[k:k + 60]!r} vs published {b[k:k + 60]!r}; "
              f"lengths {len(a)} vs {len(b)}")

    # 3. perplexity
    with open(os.path.join(data, "text", "wikitext-2-raw-v1", "test.joined.txt"), encoding="utf-8") as f:
        wiki = f.read()
    with open(os.path.join(data, "text", "ptb", "ptb.test.txt"), encoding="utf-8") as f:
        ptb_lines = f.read().split("\n")
    if ptb_lines and ptb_lines[-1] == "":
        ptb_lines.pop()
    ptb = " ".join(line.strip() for line in ptb_lines)
    datasets = [
        ("wikitext2_test_first20000chars", wiki[:20000],
         "text/wikitext-2-raw-v1/test.joined.txt read as UTF-8, first 20000 characters (Unicode code points), "
         "no other change"),
        ("wikitext2_test", wiki, "text/wikitext-2-raw-v1/test.joined.txt read as UTF-8 as is (it is already "
         "'\\n\\n'.join(test rows))"),
        ("ptb_test", ptb, "text/ptb/ptb.test.txt split into lines at '\\n' (the final empty piece after the last "
         "newline dropped), each line .strip()ped (the HF ptb_text_only loader yields line.strip() as 'sentence', "
         "which removes the leading and trailing space every line of this file has), joined with ' ' "
         "(SparseGPT/Wanda get_ptb: ' '.join(testdata['sentence']))"),
        ("tinystories_eval", ts_eval, "text/tinystories/eval.txt read as UTF-8 as is (including the literal "
         "'<|endoftext|>' separators and newlines, which are ordinary text for this tokenizer)"),
    ]
    results = []
    for name, text, how in datasets:
        t0 = time.time()
        ids = tok.encode(text)
        t1 = time.time()
        entry = {"name": name, "preprocessing": how, "characters": len(text), "tokens": len(ids),
                 "first_16_ids": ids[:16], "last_16_ids": ids[-16:],
                 "unk_ids": sum(1 for i in ids if i == 0)}
        with torch.no_grad():
            entry["results"] = [perplexity(model, ids, s) for s in (512, 128)]
        results.append(entry)
        print(f"{name}: {len(text)} chars, {len(ids)} tokens (tokenize {t1 - t0:.1f}s, eval {time.time() - t1:.1f}s) "
              + ", ".join(f"seqlen {r['seqlen']}: {r['windows']} windows ppl {r['ppl']:.6f}" for r in entry["results"]))
    write_json(os.path.join(args.out, "stories260K_perplexity.json"),
               dict(common, tokenization="the whole text tokenized once: BOS (1) prepended once, then "
                    "SentencePiece-BPE with HF tokenizer.json semantics (literal <unk>/<s>/</s> are special ids 0/1/2)",
                    method="windows = tokens // seqlen non-overlapping windows from token 0, remainder dropped; each "
                    "window evaluated on its own from position 0; NLL of tokens 2..seqlen of each window (natural "
                    "log); nll_mean = nll_sum / (windows * (seqlen - 1)); ppl = exp(nll_mean)",
                    datasets=results))
    return 0


def write_json(path, obj):
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(s + "\n")
    print(f"wrote {path}: {len(s.encode('utf-8'))} bytes")


VARIANT_TOP = 8  # the variant goldens store each position's 8 largest logits


def variant(name, cfg):
    """(config changes, extra tensors, the changes that undo the variant's point) of a named variant of a model:
    window32, a Mistral with a sliding window of 32; qwen3, a Qwen3 whose per-head q/k RMSNorm weights are
    0.5 + ((7i + 3l + 5kind) mod 13) / 12 (kind 0 for q, 1 for k) over layer l's head_dim; phi4mini, a Phi-3 whose
    RoPE turns half of each head with longrope factors (Phi-4-mini's kind of RoPE); granite, a Granite with its four
    multipliers; olmo2, an OLMo 2 (norms after each branch, q/k norms across heads); gemma3, a Gemma 3 text model; yarn,
    the model with Qwen2.5's YaRN block (factor 4)."""
    if name == "window32":
        changes = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "sliding_window": 32}
        return changes, {}, dict(changes, sliding_window=None)
    if name == "qwen3":
        hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        extra = {}
        for l in range(cfg["num_hidden_layers"]):
            for kind, part in enumerate(("q_norm", "k_norm")):
                extra[f"model.layers.{l}.self_attn.{part}.weight"] = np.array(
                    [0.5 + ((7 * i + 3 * l + 5 * kind) % 13) / 12 for i in range(hd)], dtype=np.float32)
        changes = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3"}
        return changes, extra, {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    if name == "phi4mini":
        # Phi-4-mini's RoPE on the testbed's shapes: half of each 32-wide head turned, longrope from a 64-position
        # original context to the 256 of the model (factor 4), so the 200 positions of the case cross the switch.
        pairs = (cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]) // 4
        changes = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "partial_rotary_factor": 0.5,
                   "original_max_position_embeddings": 64,
                   "rope_scaling": {"type": "longrope", "short_factor": [1.0 + 0.25 * i for i in range(pairs)],
                                    "long_factor": [1.5 + 1.5 * i for i in range(pairs)]}}
        return changes, {}, {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    if name == "yarn":
        # Qwen2.5's long-context block on the testbed: YaRN with factor 4 over the unchanged context, which rope_scaling
        # also names as the original one (transformers 4.50-4.55 turned that into a factor of 1).
        changes = {"rope_scaling": {"type": "yarn", "factor": 4.0,
                                    "original_max_position_embeddings": cfg["max_position_embeddings"]}}
        return changes, {}, {"rope_scaling": None}
    if name == "granite":
        # Granite's four multipliers, mild enough that the trained testbed still models its text: embeddings x 2,
        # residual branches x 0.8, attention scores x 1/8 (not 1/sqrt(32)), logits / 1.25 (not a power of two).
        changes = {"architectures": ["GraniteForCausalLM"], "model_type": "granite", "embedding_multiplier": 2.0,
                   "residual_multiplier": 0.8, "attention_multiplier": 0.125, "logits_scaling": 1.25}
        return changes, {}, {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    if name == "olmo2":
        # OLMo 2's norm placement on the testbed's weights: post_attention_layernorm norms the attention output, a
        # new post_feedforward_layernorm the MLP output, and q_norm / k_norm span all heads, with weights
        # 0.5 + ((7i + 3l + 5kind) mod 13) / 12 (kind 0 for q, 1 for k, 2 for the feed-forward norm).
        hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        widths = (cfg["num_attention_heads"] * hd, (cfg.get("num_key_value_heads") or cfg["num_attention_heads"]) * hd, cfg["hidden_size"])
        extra = {}
        for l in range(cfg["num_hidden_layers"]):
            for kind, (name_, width) in enumerate(zip(("self_attn.q_norm", "self_attn.k_norm", "post_feedforward_layernorm"), widths)):
                extra[f"model.layers.{l}.{name_}.weight"] = np.array(
                    [0.5 + ((7 * i + 3 * l + 5 * kind) % 13) / 12 for i in range(width)], dtype=np.float32)
        changes = {"architectures": ["Olmo2ForCausalLM"], "model_type": "olmo2"}
        return changes, extra, {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    if name == "gemma3":
        # Gemma 3 on the testbed's weights, every point of it visible in the logits: the stored norms (trained as LLaMA
        # weights) applied as 1 + w, new pre/post feed-forward norms and per-head q/k norms with offsets
        # ((7i + 3l + 5kind) mod 13) / 12 - 0.5 (kind 0 q, 1 k, 2 pre, 3 post feed-forward); a GELU-tanh gate; embeddings
        # x sqrt(256) = 16, tied to lm_head; scores x 64^-0.5 (not 32^-0.5); sliding_window_pattern 3 (layers 0, 1, 3, 4
        # slide through 24 positions, layer 2 is global) with local base 10000 and global base 1e6 under linear scaling x2.
        hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        parts = (("self_attn.q_norm", hd), ("self_attn.k_norm", hd), ("pre_feedforward_layernorm", cfg["hidden_size"]),
                 ("post_feedforward_layernorm", cfg["hidden_size"]))
        extra = {}
        for l in range(cfg["num_hidden_layers"]):
            for kind, (name_, width) in enumerate(parts):
                extra[f"model.layers.{l}.{name_}.weight"] = np.array(
                    [((7 * i + 3 * l + 5 * kind) % 13) / 12 - 0.5 for i in range(width)], dtype=np.float32)
        changes = {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_activation": "gelu_pytorch_tanh",
                   "query_pre_attn_scalar": 64, "sliding_window": 24, "sliding_window_pattern": 3, "rope_theta": 1000000.0,
                   "rope_local_base_freq": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 2.0},
                   "tie_word_embeddings": True, "final_logit_softcapping": None, "attn_logit_softcapping": None}
        return changes, extra, {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    if name in ("qwen2", "llama3bias"):
        # Attention biases on the testbed's weights, of values ((7i + 3l + 5kind) mod 13) / 12 - 0.5 (kind 0 q, 1 k,
        # 2 v, 3 o). qwen2: a Qwen2 (q/k/v biases, none on o_proj) whose layers from max_window_layers 3 on slide
        # through 16 positions. llama3bias: a LLaMA with attention_bias (o_proj's bias too) and Llama 3.1's RoPE
        # scaling over a 64-position original context, so that the 16 pairs of a 32-wide head fall in all three bands.
        hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        widths = (("q_proj", cfg["num_attention_heads"] * hd), ("k_proj", (cfg.get("num_key_value_heads") or cfg["num_attention_heads"]) * hd),
                  ("v_proj", (cfg.get("num_key_value_heads") or cfg["num_attention_heads"]) * hd), ("o_proj", cfg["hidden_size"]))
        if name == "qwen2":
            widths = widths[:3]
        extra = {}
        for l in range(cfg["num_hidden_layers"]):
            for kind, (name_, width) in enumerate(widths):
                extra[f"model.layers.{l}.self_attn.{name_}.bias"] = np.array(
                    [((7 * i + 3 * l + 5 * kind) % 13) / 12 - 0.5 for i in range(width)], dtype=np.float32)
        if name == "qwen2":
            changes = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "use_sliding_window": True,
                       "sliding_window": 16, "max_window_layers": 3}
            return changes, extra, {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
        changes = {"attention_bias": True, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}
        return changes, extra, {"attention_bias": False, "rope_scaling": None}
    raise ValueError(f"unknown variant {name}")


def cmd_variant_goldens(args):
    """A model's weights as another architecture (see variant()): float64 logits of a passage (argmax, logsumexp,
    top logits) and the perplexity of an eval text, with the variant and without its point."""
    tok = SpBpe(os.path.join(args.model, "tokenizer.json"))
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    changes, extra, undo = variant(args.variant, cfg)
    model = Llama(args.model, dtype=torch.float64, config_changes=changes, extra_tensors=extra)
    plain = Llama(args.model, dtype=torch.float64, config_changes=undo)
    with open(args.text, encoding="utf-8") as f:
        text = f.read()[: args.chars]
    ids = tok.encode(text)
    case = ids[: args.case_tokens]
    with torch.no_grad():
        logits = model.forward(torch.tensor(case))
        r = perplexity(model, ids, args.seqlen)
        r_plain = perplexity(plain, ids, args.seqlen)
    rows = []
    for row in logits:
        top = torch.topk(row, VARIANT_TOP).indices.tolist()
        rows.append({"ids": top, "values": [fmt(float(row[i])) for i in top]})
    write_json(args.out, {
        "model": os.path.basename(os.path.normpath(args.model)), "variant": args.variant, "config_changes": changes,
        "extra_tensors": {k: [float(x) for x in v] for k, v in extra.items()}, "dtype": "float64",
        "computation": "independent torch forward (tools/reference/llama_reference.py), the model's BF16 weights "
                       "(and the F32 extra tensors) widened to float64",
        "text": os.path.basename(args.text), "characters": len(text), "tokens": len(ids),
        "first_16_ids": ids[:16], "last_16_ids": ids[-16:],
        "case": {"ids": case, "argmax": [int(a) for a in logits.argmax(-1)],
                 "logsumexp": [fmt(v) for v in torch.logsumexp(logits, -1).tolist()], "logits": rows},
        "perplexity": r, "perplexity_without_variant": r_plain})
    print(f"{args.variant}: ppl {r['ppl']:.6f}, without it {r_plain['ppl']:.6f}")
    return 0


# YaRN configs for rope-goldens: Qwen2.5's block; the defaults with no original context; DeepSeek's mscale pair;
# gpt-oss's untruncated ramp; a ramp whose ends meet (0.001 apart); given betas and attention factor on a narrow
# head; a null factor with the top-level original context winning over rope_scaling's; factor 1.
ROPE_GOLDEN_CASES = [
    ("qwen2.5", {"head_dim": 128, "rope_theta": 1000000.0, "max_position_embeddings": 32768,
                 "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}),
    ("defaults", {"head_dim": 64, "rope_theta": 10000.0, "max_position_embeddings": 4096,
                  "rope_scaling": {"rope_type": "yarn", "factor": 8.0}}),
    ("mscale", {"head_dim": 64, "rope_theta": 10000.0, "max_position_embeddings": 163840,
                "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                                 "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.707}}),
    ("untruncated", {"head_dim": 64, "rope_theta": 150000.0, "max_position_embeddings": 131072,
                     "rope_scaling": {"rope_type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096,
                                      "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False}}),
    ("ends_meet", {"head_dim": 16, "rope_theta": 10000.0, "max_position_embeddings": 64,
                   "rope_scaling": {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 4}}),
    ("given", {"head_dim": 24, "rope_theta": 500000.0, "max_position_embeddings": 2048,
               "rope_scaling": {"rope_type": "yarn", "factor": 2.5, "original_max_position_embeddings": 512,
                                "beta_fast": 16, "beta_slow": 2, "attention_factor": 1.3}}),
    ("null_factor", {"head_dim": 32, "rope_theta": 10000.0, "max_position_embeddings": 8192,
                     "original_max_position_embeddings": 2048,
                     "rope_scaling": {"rope_type": "yarn", "factor": None, "original_max_position_embeddings": 1024}}),
    ("factor_1", {"head_dim": 64, "rope_theta": 10000.0, "max_position_embeddings": 4096,
                  "rope_scaling": {"rope_type": "yarn", "factor": 1.0, "original_max_position_embeddings": 4096}}),
]


def cmd_rope_goldens(args):
    """YaRN inv_freq and cos/sin rows in float32, the dtype transformers computes them in (exact f32 values), from
    the rounded exact powers of theta so that they check what YaRN adds to them."""
    cases = []
    for name, cfg in ROPE_GOLDEN_CASES:
        inv, attention, _, _ = rope_inv_freq(cfg, cfg["head_dim"], torch.float32, rounded_powers=True)
        positions = [0, 1, 7, 1000, cfg["max_position_embeddings"] - 1]
        angles = torch.tensor(positions, dtype=torch.float32)[:, None] * inv[None, :]
        cases.append({"name": name, "config": cfg, "attention_factor": attention,
                      "inv_freq": [float(x) for x in inv], "positions": positions,
                      "cos": [[float(x) for x in row] for row in angles.cos() * attention],
                      "sin": [[float(x) for x in row] for row in angles.sin() * attention]})
    write_json(args.out, {"dtype": "float32", "torch": torch.__version__,
                          "computation": "tools/reference/llama_reference.py rope_inv_freq (yarn_inv_freq) in float32, "
                                         "theta^(2i/d) the exact power rounded to float32; "
                                         "cos/sin = cos(f32(position) * inv_freq) * attention_factor",
                          "cases": cases})
    return 0


def cmd_logits(args):
    tok = SpBpe(os.path.join(args.model, "tokenizer.json"))
    model = Llama(args.model, dtype=torch.float64)
    ids = tok.encode(args.text)
    with torch.no_grad():
        logits = model.forward(torch.tensor(ids))
    print("ids", ids)
    for p, row in enumerate(logits):
        print(p, int(row.argmax()), float(row.max()), float(torch.logsumexp(row, -1)))
    return 0


# ----------------------------------------------------------------------------------------------------------
# Bench
# ----------------------------------------------------------------------------------------------------------

def cmd_bench(args):
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model = Llama(args.model, dtype=None)  # stored dtype (bf16 stays bf16, f32 stays f32)
    t_load = time.time() - t0
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, model.vocab, (args.prefill,), generator=g)
    with torch.inference_mode():
        model.forward(ids[:4])  # small warm-up (allocator, kernels)
        cache = []
        t0 = time.perf_counter()
        logits = model.forward(ids, cache, 0)
        t_prefill = time.perf_counter() - t0
        nxt = int(logits[-1].argmax())
        t0 = time.perf_counter()
        for i in range(args.decode):
            logits = model.forward(torch.tensor([nxt]), cache, args.prefill + i)
            nxt = int(logits[-1].argmax())
        t_decode = time.perf_counter() - t0
    nparams = sum(t.numel() for t in model.tensors.values())
    print(f"model {args.model}: {nparams / 1e6:.1f}M params, dtype {model.dtype}, threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}, load {t_load:.1f}s")
    print(f"prefill {args.prefill} tokens: {t_prefill:.3f}s = {args.prefill / t_prefill:.2f} tokens/s")
    print(f"decode {args.decode} tokens: {t_decode:.3f}s = {args.decode / t_decode:.3f} tokens/s")
    return 0


def cmd_selftest(args):
    """Internal consistency on small random models (no reference values): KV-cache decode == full forward
    for every RoPE variant and Granite's multipliers, with q/k/v biases and GQA; bf16 reader round trip; llama3
    inv_freq limits."""
    import tempfile
    rng = np.random.default_rng(0)
    ok = True
    # Phi-3's longrope over half of each head, switching to the long factors at position 10 of the 20 run
    phi3 = {"model_type": "phi3", "partial_rotary_factor": 0.5, "original_max_position_embeddings": 10, "max_position_embeddings": 40}
    granite = {"model_type": "granite", "embedding_multiplier": 6.0, "residual_multiplier": 0.3,
               "attention_multiplier": 0.1, "logits_scaling": 4.0}
    olmo2 = {"model_type": "olmo2"}
    gemma3 = {"model_type": "gemma3_text", "layer_types": ["sliding_attention", "full_attention"], "sliding_window": 5,
              "rope_local_base_freq": 50.0, "query_pre_attn_scalar": 20, "rope_scaling": {"rope_type": "linear", "factor": 3.0}}
    for scaling, extra in ((None, {}), ({"rope_type": "linear", "factor": 4.0}, {}),
                           ({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 64}, {}),
                           ({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8}, {}),
                           ({"rope_type": "longrope", "short_factor": [1.0, 1.2, 1.7, 2.5], "long_factor": [1.0, 2.0, 6.0, 11.0]}, phi3),
                           (None, granite), (None, olmo2), (None, gemma3)):
        cfg = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=16, vocab_size=40, rms_norm_eps=1e-6, rope_theta=500.0,
                   hidden_act="silu", **dict({"rope_scaling": scaling}, **extra))  # Gemma 3 brings its own
        shapes = {"model.embed_tokens.weight": [40, 32], "model.norm.weight": [32]}
        for l in range(2):
            p = f"model.layers.{l}."
            shapes.update({p + "input_layernorm.weight": [32], p + "post_attention_layernorm.weight": [32],
                           p + "self_attn.q_proj.weight": [64, 32], p + "self_attn.q_proj.bias": [64],
                           p + "self_attn.k_proj.weight": [32, 32], p + "self_attn.k_proj.bias": [32],
                           p + "self_attn.v_proj.weight": [32, 32], p + "self_attn.v_proj.bias": [32],
                           p + "self_attn.o_proj.weight": [32, 64], p + "mlp.gate_proj.weight": [48, 32],
                           p + "mlp.up_proj.weight": [48, 32], p + "mlp.down_proj.weight": [32, 48]})
            if extra is olmo2:
                shapes.update({p + "self_attn.q_norm.weight": [64], p + "self_attn.k_norm.weight": [32],
                               p + "post_feedforward_layernorm.weight": [32]})
            if extra is gemma3:
                shapes.update({p + "self_attn.q_norm.weight": [16], p + "self_attn.k_norm.weight": [16],
                               p + "pre_feedforward_layernorm.weight": [32], p + "post_feedforward_layernorm.weight": [32]})
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            arrays = {k: (rng.standard_normal(v) * 0.3).astype(np.float32) for k, v in shapes.items()}
            header, off, blob = {}, 0, b""
            for k, a in arrays.items():
                bits = (a.view(np.uint32) >> 16).astype(np.uint16)  # truncate to bf16
                arrays[k] = bf16_to_f32(bits)
                header[k] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [off, off + bits.nbytes]}
                off += bits.nbytes
                blob += bits.tobytes()
            hb = json.dumps(header).encode()
            with open(os.path.join(d, "model.safetensors"), "wb") as f:
                f.write(struct.pack("<Q", len(hb)) + hb + blob)
            m = Llama(d, dtype=torch.float64)
            same = all(np.array_equal(m.tensors[k].numpy(), arrays[k].astype(np.float64)) for k in arrays)
            ids = torch.tensor(rng.integers(0, 40, 20))
            with torch.no_grad():
                full = m.forward(ids)
                cache = []
                parts = [m.forward(ids[:7], cache, 0)] + [m.forward(ids[i:i + 1], cache, i) for i in range(7, 20)]
            diff = float((torch.cat(parts) - full).abs().max())
            kind = scaling["rope_type"] if scaling else extra.get("model_type", "default")
            print(f"rope {kind}: bf16 reader exact {same}, max |cached - full| {diff:.2e}, "
                  f"inv_freq {m.inv_freq[0].item():.6g}..{m.inv_freq[-1].item():.6g}")
            ok &= same and diff < 1e-12
    return 0 if ok else 1


STRIDE_CASES = [(128, 64), (100, 37)]


def sliding_perplexity(model, ids, seqlen, stride):
    """Hugging Face's sliding-window recipe (each window's targets are the tokens past the previous window's end),
    over whole windows only: window c starts at c * stride, the tokens after the last whole window are dropped."""
    nll, count, prev_end = 0.0, 0, 0
    windows = (len(ids) - seqlen) // stride + 1
    for c in range(windows):
        begin = c * stride
        w = ids[begin:begin + seqlen]
        lp = torch.log_softmax(model.forward(torch.tensor(w, dtype=torch.long)), dim=-1)
        first = max(1, prev_end - begin)
        tgt = torch.tensor(w[first:], dtype=torch.long)
        nll -= float(lp[first - 1:seqlen - 1].gather(1, tgt[:, None]).sum())
        count += seqlen - first
        prev_end = begin + seqlen
    return {"seqlen": seqlen, "stride": stride, "windows": windows, "predicted_tokens": count, "nll_sum": nll,
            "ppl": math.exp(nll / count)}


def cmd_stride_goldens(args):
    model = Llama(args.model, dtype=torch.float64)
    tok = SpBpe(os.path.join(args.model, "tokenizer.json"))
    with open(os.path.join(args.data, "text", "wikitext-2-raw-v1", "test.joined.txt"), encoding="utf-8") as f:
        ids = tok.encode(f.read()[:20000])
    out = {"model": "stories260K", "dtype": "float64", "dataset": "wikitext2_test_first20000chars", "tokens": len(ids),
           "method": " ".join(sliding_perplexity.__doc__.split()),
           "cases": [sliding_perplexity(model, ids, L, S) for L, S in STRIDE_CASES]}
    write_json(args.out, out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("tokcheck")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--golden", required=True)
    p = sub.add_parser("goldens")
    p.add_argument("--model", required=True, help="the stories260K folder")
    p.add_argument("--data", required=True, help="the shared data folder (holds text/)")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("logits")
    p.add_argument("--model", required=True)
    p.add_argument("--text", required=True)
    p = sub.add_parser("bench")
    p.add_argument("--model", required=True)
    p.add_argument("--prefill", type=int, default=128)
    p.add_argument("--decode", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    sub.add_parser("selftest")
    p = sub.add_parser("stride-goldens")
    p.add_argument("--model", required=True, help="the stories260K folder")
    p.add_argument("--data", required=True, help="the shared data folder (holds text/)")
    p.add_argument("--out", required=True)
    p = sub.add_parser("rope-goldens")
    p.add_argument("--out", required=True)
    p = sub.add_parser("variant-goldens")
    p.add_argument("--model", required=True, help="the testbed model folder")
    p.add_argument("--variant", required=True, choices=["window32", "qwen3", "phi4mini", "granite", "olmo2", "gemma3", "yarn", "qwen2", "llama3bias"])
    p.add_argument("--text", required=True, help="a UTF-8 text file")
    p.add_argument("--out", required=True)
    p.add_argument("--chars", type=int, default=8000)
    p.add_argument("--seqlen", type=int, default=256)
    p.add_argument("--case-tokens", type=int, default=200)
    args = ap.parse_args(argv)
    return {"selftest": cmd_selftest, "tokcheck": cmd_tokcheck, "goldens": cmd_goldens, "logits": cmd_logits, "bench": cmd_bench,
            "variant-goldens": cmd_variant_goldens, "rope-goldens": cmd_rope_goldens, "stride-goldens": cmd_stride_goldens}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
