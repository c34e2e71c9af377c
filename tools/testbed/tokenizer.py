#!/usr/bin/env python3
"""SentencePiece BPE tokenizer of the testbed model (Debian python3-sentencepiece), and its HF tokenizer.json.

    tokenizer.py train   --corpus DIR --out DIR [--vocab 4096] [--threads 2]
    tokenizer.py convert --sp DIR/sp.model --out MODELDIR [--max-len 1024]
    tokenizer.py golden  --sp DIR/sp.model --corpus DIR --out FILE.json

train:   trains sp.model / sp.vocab on the four train splits (every line of train.txt of every domain).
convert: writes tokenizer.json (Llama layout: normalizer Prepend "▁" + Replace " "→"▁", no pre-tokenizer, BPE with
         byte_fallback over the vocab, merges derived from the vocab, TemplateProcessing adding <s>) and
         tokenizer_config.json.
golden:  the SentencePiece ids of every calibration and evaluation split (with BOS, as `copal tokenize -f`
         gives them), stored as a count, a sha256 of the ids (little-endian uint16) and a sha256 per 4096-id
         block, so a test can find the first differing block without Python.
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile

import sentencepiece as spm

SPACE = "\u2581"
DOMAINS = ("stories", "python", "c", "prose")


def cmd_train(args):
    # SentencePiece stores its input paths and model prefix in the model file. It trains in a scratch folder
    # holding links named after the domains, so the file records "stories.txt", ... and "sp", never a path of the
    # machine that trained it; the pieces do not depend on the names.
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sp-train-")
    cwd = os.getcwd()
    try:
        for d in DOMAINS:
            os.symlink(os.path.abspath(os.path.join(args.corpus, d, "train.txt")), os.path.join(work, d + ".txt"))
        os.chdir(work)
        spm.SentencePieceTrainer.train(
            input=",".join(d + ".txt" for d in DOMAINS),
            model_prefix="sp",
            model_type="bpe",
            vocab_size=args.vocab,
            byte_fallback=True,
            character_coverage=0.9995,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=True,
            split_digits=True,
            allow_whitespace_only_pieces=True,
            max_sentence_length=16384,
            input_sentence_size=0,  # every line
            shuffle_input_sentence=False,
            num_threads=args.threads,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            train_extremely_large_corpus=False,
            minloglevel=1,
        )
        for fn in ("sp.model", "sp.vocab"):
            shutil.move(os.path.join(work, fn), os.path.join(out, fn))
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    print("wrote", os.path.join(args.out, "sp.model"))


def load(path):
    sp = spm.SentencePieceProcessor()
    sp.load(path)
    return sp


def cmd_convert(args):
    sp = load(args.sp)
    n = sp.get_piece_size()
    pieces = [sp.id_to_piece(i) for i in range(n)]
    assert pieces[:3] == ["<unk>", "<s>", "</s>"], pieces[:3]
    for b in range(256):
        assert pieces[3 + b] == f"<0x{b:02X}>" and sp.is_byte(3 + b), (b, pieces[3 + b])
    vocab = {p: i for i, p in enumerate(pieces)}
    assert len(vocab) == n, "duplicate pieces"
    normal = [i for i in range(n) if not (sp.is_byte(i) or sp.is_control(i) or sp.is_unknown(i))]
    # SentencePiece BPE merges the adjacent pair whose merged piece has the highest score (leftmost on ties);
    # HF BPE merges the pair of lowest merge rank. Rank merges by the merged piece's score order, which must be
    # the id order: check it.
    multi = [i for i in normal if len(pieces[i]) > 1]
    for a, b in zip(multi, multi[1:]):
        if not sp.get_score(a) > sp.get_score(b):
            sys.exit(f"scores not strictly decreasing with id: {pieces[a]!r} {sp.get_score(a)} / "
                     f"{pieces[b]!r} {sp.get_score(b)}")
    merges = []
    for i in multi:
        p = pieces[i]
        for k in range(1, len(p)):
            left, right = p[:k], p[k:]
            if left in vocab and right in vocab and not sp.is_byte(vocab[left]) and not sp.is_byte(vocab[right]):
                merges.append((i, vocab[left], vocab[right], left, right))
    merges.sort()
    special = [{"id": i, "content": pieces[i], "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i in range(3)]
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[m[3], m[4]] for m in merges]},
    }
    cfg = {"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": True, "add_eos_token": False,
           "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
           "model_max_length": args.max_len, "clean_up_tokenization_spaces": False, "legacy": False}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    print(f"tokenizer.json: {n} pieces, {len(merges)} merges")


BLOCK = 4096


def ids_digest(ids):
    raw = struct.pack(f"<{len(ids)}H", *ids)
    blocks = [hashlib.sha256(raw[2 * s: 2 * (s + BLOCK)]).hexdigest()[:16] for s in range(0, len(ids), BLOCK)]
    return hashlib.sha256(raw).hexdigest(), blocks


def cmd_golden(args):
    sp = load(args.sp)
    out = {"tokenizer": "sentencepiece " + spm.__version__ + " (Debian python3-sentencepiece), " +
                        os.path.basename(args.sp),
           "ids": "BOS (1) then SentencePieceProcessor.encode(text) of the whole file read as UTF-8",
           "digest": "sha256 of the ids as little-endian uint16; blocks: first 16 hex digits of the sha256 of "
                     f"each run of {BLOCK} ids",
           "files": []}
    for d in DOMAINS:
        for split in ("calib", "eval"):
            with open(os.path.join(args.corpus, d, split + ".txt"), encoding="utf-8") as f:
                text = f.read()
            ids = [1] + sp.encode(text)
            digest, blocks = ids_digest(ids)
            out["files"].append({"path": f"{d}/{split}.txt", "characters": len(text), "tokens": len(ids),
                                 "first_32_ids": ids[:32], "sha256": digest, "block_sha256_16": blocks})
            print(d, split, len(text), "chars", len(ids), "tokens", flush=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--vocab", type=int, default=4096)
    t.add_argument("--threads", type=int, default=2)
    c = sub.add_parser("convert")
    c.add_argument("--sp", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--max-len", type=int, default=1024)
    g = sub.add_parser("golden")
    g.add_argument("--sp", required=True)
    g.add_argument("--corpus", required=True)
    g.add_argument("--out", required=True)
    args = ap.parse_args()
    {"train": cmd_train, "convert": cmd_convert, "golden": cmd_golden}[args.cmd](args)


if __name__ == "__main__":
    main()
