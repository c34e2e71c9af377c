"""Writes a SentencePiece tokenizer.model for an HF tokenizer.json of the Llama-2 kind (BPE with byte fallback).

llama.cpp's converter reads the vocabulary of a Llama model from tokenizer.model; HF checkpoints (and Copal's
synthetic models) often ship only tokenizer.json. The .model file is a protobuf ModelProto; this writes its few
fields by hand (no protobuf package needed): each piece with its type and a score that ranks merges like the
original Llama-2 model (-(id - first normal id)), a BPE trainer spec with byte fallback, and a normalizer that adds
the dummy prefix and escapes spaces as U+2581.

Usage: spm_model.py TOKENIZER_JSON OUT_MODEL
"""
import json
import struct
import sys


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, wire, payload):
    return varint(number << 3 | wire) + payload


def vint(number, value):
    return field(number, 0, varint(value))


def text(number, s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return field(number, 2, varint(len(b)) + b)


def f32(number, value):
    return field(number, 5, struct.pack("<f", value))


NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


def main(tokenizer_json, out_path):
    tok = json.load(open(tokenizer_json, encoding="utf-8"))
    model = tok["model"]
    if model.get("type") != "BPE" or not model.get("byte_fallback"):
        sys.exit(f"{tokenizer_json}: model.type {model.get('type')!r} with byte_fallback {model.get('byte_fallback')!r}, "
                 "expected a BPE model with byte_fallback true (the Llama-2 kind)")
    by_id = {i: p for p, i in model["vocab"].items()}
    specials = {a["id"]: a["content"] for a in tok.get("added_tokens", [])}
    by_id.update(specials)
    unk = model.get("unk_token") or "<unk>"
    first_normal = None
    pieces = bytearray()
    for i in range(max(by_id) + 1):
        p = by_id.get(i, f"<unused{i}>")
        if p == unk:
            kind, score = UNKNOWN, 0.0
        elif i in specials:
            kind, score = CONTROL, 0.0
        elif len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
            kind, score = BYTE, 0.0
        else:
            first_normal = i if first_normal is None else first_normal
            kind, score = NORMAL, -float(i - first_normal)
        pieces += text(1, text(1, p) + f32(2, score) + vint(3, kind))
    ids = {v: k for k, v in specials.items()}
    trainer = (vint(3, 2) + vint(4, max(by_id) + 1) + vint(35, 1)
               + vint(40, model["vocab"].get(unk, 0)) + vint(41, ids.get("<s>", 1)) + vint(42, ids.get("</s>", 2))
               + vint(43, -1))
    normalizer = text(1, "identity") + vint(3, 1) + vint(4, 0) + vint(5, 1)
    blob = bytes(pieces) + text(2, trainer) + text(3, normalizer)
    with open(out_path, "wb") as f:
        f.write(blob)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
