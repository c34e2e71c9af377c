#!/usr/bin/env python3
"""Write a synthetic LLaMA checkpoint in Hugging Face layout (config.json + model.safetensors) for speed comparisons.

Random weights: every linear and the embedding ~ Normal(0, 0.02), every norm weight = 1, seeded per tensor
(numpy PCG64 seeded with [seed, tensor index]), so a folder is reproducible tensor by tensor. The weights are
generated in float32 and stored as F32 or BF16 (round to nearest even). Tensors are streamed to disk one at a
time, so memory stays at about the largest tensor.

Never commit the output (the 1.1B preset is 2.2 GB in bf16, 4.4 GB in f32): write it to a temporary folder.

  python3 make_synthetic.py --preset tinyllama-1.1b --dtype bf16 --out "$TMPDIR/synth-tinyllama-bf16"
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

PRESETS = {
    # TinyLlama-1.1B shapes (GQA 32 heads / 4 kv heads)
    "tinyllama-1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                           num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048, rope_theta=10000.0,
                           rms_norm_eps=1e-5),
    # Llama-2-7B shapes (MHA)
    "llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rope_theta=10000.0,
                      rms_norm_eps=1e-5),
    # a ~100M-parameter LLaMA (GPT-2-small-like widths)
    "100m": dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                 num_key_value_heads=12, vocab_size=32000, max_position_embeddings=2048, rope_theta=10000.0,
                 rms_norm_eps=1e-5),
}


def tensor_specs(c):
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    hd = h // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd
    specs = [("model.embed_tokens.weight", [v, h], "normal")]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        specs += [
            (p + "input_layernorm.weight", [h], "ones"),
            (p + "self_attn.q_proj.weight", [h, h], "normal"),
            (p + "self_attn.k_proj.weight", [kv, h], "normal"),
            (p + "self_attn.v_proj.weight", [kv, h], "normal"),
            (p + "self_attn.o_proj.weight", [h, h], "normal"),
            (p + "post_attention_layernorm.weight", [h], "ones"),
            (p + "mlp.gate_proj.weight", [i, h], "normal"),
            (p + "mlp.up_proj.weight", [i, h], "normal"),
            (p + "mlp.down_proj.weight", [h, i], "normal"),
        ]
    specs += [("model.norm.weight", [h], "ones"), ("lm_head.weight", [v, h], "normal")]
    return specs


def f32_to_bf16_bits(x):
    u = x.view(np.uint32)
    # round to nearest, ties to even (no NaNs can occur here)
    return ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    c = PRESETS[args.preset]
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu", attention_bias=False,
               mlp_bias=False, rope_scaling=None, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
               initializer_range=0.02, use_cache=True,
               torch_dtype="bfloat16" if args.dtype == "bf16" else "float32", **c)
    cfg["head_dim"] = c["hidden_size"] // c["num_attention_heads"]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    specs = tensor_specs(c)
    esize = 2 if args.dtype == "bf16" else 4
    header, off = {}, 0
    for name, shape, _ in specs:
        n = int(np.prod(shape)) * esize
        header[name] = {"dtype": "BF16" if args.dtype == "bf16" else "F32", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt", "synthetic": f"{args.preset} seed {args.seed} normal(0,0.02) norms 1"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-(8 + len(hb)) % 8)  # align the data start to 8 bytes
    path = os.path.join(args.out, "model.safetensors")
    nparams = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for idx, (name, shape, init) in enumerate(specs):
            n = int(np.prod(shape))
            nparams += n
            if init == "ones":
                a = np.ones(n, dtype=np.float32)
            else:
                rng = np.random.default_rng([args.seed, idx])
                a = rng.standard_normal(n, dtype=np.float32)
                a *= np.float32(0.02)
            f.write((f32_to_bf16_bits(a) if args.dtype == "bf16" else a).tobytes())
    print(f"wrote {path}: {nparams / 1e6:.1f}M parameters, {args.dtype}, {os.path.getsize(path) / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
