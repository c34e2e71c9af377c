"""Copal beside llama.cpp (and PyTorch eager, when Debian's python3-torch is there) on one model, rounds interleaved.

Usage:
  side_by_side.py --llama-cpp SRC [--copal EXE] [--model DIR] [--work DIR] [--rounds 5] [--prefill 512]
                  [--decode 32] [--text FILE] [--mmap off|on] [--torch]

  SRC     a llama.cpp source tree you obtained yourself (pinned: see docs/performance.md); built here with cmake
          into WORK/llama-build if its binaries are missing. Nothing is downloaded.
  EXE     a built `copal` (default: `dotnet publish src/Copal.Cli` into WORK/copal, on every run).
  DIR     a Copal/HF model folder (default: `copal synth --preset tinyllama-1.1b`, BF16, into WORK/tinyllama-bf16).
  FILE    text for llama-perplexity (default: ../shared/data/text/wikitext-2-raw-v1/test.joined.txt).

Per round, in this order: `copal bench` (prefill, perplexity mode = every position's logits, decode), `llama-bench`
(prefill, decode), `llama-perplexity` (tokens/s of its prompt evaluation at -c/-b = --prefill), and the PyTorch peer
(benchmarks/torch/llama_bench.py). The table gives the median of the rounds and Copal ÷ peer.

--mmap says how both engines hold the weights, so they stream them from the same kind of memory: off (the default)
reads them into the process (Copal `--mmap off`, llama.cpp `-mmp 0` / `--no-mmap`), on maps the files (Copal
`--mmap on`, llama.cpp's own default). On this project's machine decode over mapped pages is 0.65-0.8x as fast for
both engines.

The model is converted with llama.cpp's own convert_hf_to_gguf.py, run by Debian's python3 with this folder's
stand-in `safetensors` module and, when the model has only tokenizer.json, a tokenizer.model written by
spm_model.py. Inputs are never modified: the converter reads a folder of links to the model's files.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-torch, numpy and sentencepiece are installed


def run(cmd, env=None, capture=True):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, env=env, text=True, stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        tail = (done.stderr or "")[-2000:] if capture else ""
        sys.exit(f"side_by_side: {cmd[0]} exited with {done.returncode}\n{tail}")
    return done.stdout if capture else ""


def copal_exe(args):
    if args.copal:
        return args.copal
    out = os.path.join(args.work, "copal")
    exe = os.path.join(out, "copal")
    # Published on every run (incremental when nothing changed): a copy from an earlier run would measure old code.
    run(["dotnet", "publish", os.path.join(REPO, "src", "Copal.Cli"), "-c", "Release", "-o", out], capture=False)
    return exe


def model_dir(args, copal):
    if args.model:
        return args.model
    path = os.path.join(args.work, "tinyllama-bf16")
    if not os.path.exists(os.path.join(path, "config.json")):
        tokenizer = os.path.join(REPO, "..", "shared", "data", "tokenizers", "llama2")
        run([copal, "synth", "--preset", "tinyllama-1.1b", "--dtype", "bf16", "--tokenizer", tokenizer, "-o", path], capture=False)
    return path


def llama_binaries(args):
    build = os.path.join(args.work, "llama-build")
    bench, ppl = os.path.join(build, "bin", "llama-bench"), os.path.join(build, "bin", "llama-perplexity")
    if not (os.path.exists(bench) and os.path.exists(ppl)):
        run(["cmake", "-S", args.llama_cpp, "-B", build, "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF",
             "-DCMAKE_BUILD_TYPE=Release"], capture=False)
        run(["cmake", "--build", build, "--target", "llama-bench", "llama-perplexity", "-j", str(os.cpu_count())], capture=False)
    return bench, ppl


def outtype(model):
    """The GGUF type that keeps the model's own dtype (config.json's torch_dtype), so both engines read the same bytes."""
    with open(os.path.join(model, "config.json")) as f:
        dtype = json.load(f).get("torch_dtype", "bfloat16")
    types = {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}
    if dtype not in types:
        sys.exit(f"side_by_side.py: {model}/config.json has torch_dtype {dtype!r}, expected one of {sorted(types)}")
    return types[dtype]


def weights_key(model):
    """The model's files as they are now (names, sizes, modification times): a model made again at the same path,
    in another dtype or with other weights, gets its own GGUF instead of the one converted from the old files."""
    entries = sorted((name, st.st_size, st.st_mtime_ns) for name in os.listdir(model)
                     if name.endswith((".safetensors", ".json")) for st in [os.stat(os.path.join(model, name))])
    return hashlib.sha256(repr(entries).encode()).hexdigest()[:12]


def gguf(args, model):
    out = os.path.join(args.work, f"{os.path.basename(os.path.normpath(model))}-{outtype(model)}-{weights_key(model)}.gguf")
    if os.path.exists(out):
        return out
    view = tempfile.mkdtemp(prefix="hf-view-", dir=args.work)
    try:
        for name in os.listdir(model):
            os.symlink(os.path.abspath(os.path.join(model, name)), os.path.join(view, name))
        if not os.path.exists(os.path.join(view, "tokenizer.model")):
            run([SYSTEM_PYTHON, os.path.join(HERE, "spm_model.py"), os.path.join(model, "tokenizer.json"),
                 os.path.join(view, "tokenizer.model")])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(HERE, "shim"), os.path.join(args.llama_cpp, "gguf-py")]))
        partial = out + ".partial"
        if os.path.exists(partial):
            os.remove(partial)  # left by an interrupted conversion
        run([SYSTEM_PYTHON, os.path.join(HERE, "convert.py"), args.llama_cpp, view, "--outtype", outtype(model),
             "--outfile", partial], env=env, capture=False)
        os.replace(partial, out)
    finally:
        shutil.rmtree(view)
    return out


def copal_round(copal, model, args):
    out = json.loads(run([copal, "bench", "-m", model, "--device", "cpu", "--prefill", str(args.prefill),
                          "--decode", str(args.decode), "--repeat", "1", "--mmap", args.mmap, "--json"]))
    return {"prefill": out["prefill_tokens_per_second"], "perplexity": out["perplexity_tokens_per_second"],
            "decode": out["decode_tokens_per_second"]}


def llama_round(bench, ppl, gguf_path, args):
    rows = json.loads(run([bench, "-m", gguf_path, "-p", str(args.prefill), "-n", str(args.decode), "-t", "2", "-r", "1",
                           "-mmp", "1" if args.mmap == "on" else "0", "-o", "json"]))
    result = {}
    for row in rows:
        result["prefill" if row["n_prompt"] > 0 else "decode"] = row["avg_ts"]
    # llama-perplexity prints its timings on stderr: "prompt eval time = ... ( ... tokens per second)".
    cmd = [ppl, "-m", gguf_path, "-f", args.text, "-c", str(args.prefill), "-b", str(args.prefill), "-t", "2", "--chunks", "4"]
    if args.mmap == "off":
        cmd.append("--no-mmap")
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"side_by_side: llama-perplexity exited with {done.returncode}\n{done.stderr[-2000:]}")
    match = re.search(r"prompt eval time = .*?([0-9.]+) tokens per second", done.stdout + done.stderr)
    result["perplexity"] = float(match.group(1)) if match else float("nan")
    return result


def torch_round(model, args):
    out = json.loads(run([SYSTEM_PYTHON, os.path.join(REPO, "benchmarks", "torch", "llama_bench.py"), model, "--prefill",
                          str(args.prefill), "--decode", str(args.decode), "--repeat", "1", "--threads", "2"]))
    return {"prefill": out["prefill_tokens_per_s"], "perplexity": out["perplexity_tokens_per_s"],
            "decode": out["decode_tokens_per_s"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp", required=True)
    ap.add_argument("--copal")
    ap.add_argument("--model")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "copal-peers"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--text", default=os.path.join(REPO, "..", "shared", "data", "text", "wikitext-2-raw-v1", "test.joined.txt"))
    ap.add_argument("--mmap", choices=["off", "on"], default="off", help="how both engines hold the weights (see above)")
    ap.add_argument("--torch", action="store_true", help="also run the PyTorch eager peer (Debian's python3-torch)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    copal = copal_exe(args)
    model = model_dir(args, copal)
    bench, ppl = llama_binaries(args)
    gguf_path = gguf(args, model)

    results = {"copal": [], "llama.cpp": [], "torch": []}
    for r in range(args.rounds):
        results["copal"].append(copal_round(copal, model, args))
        results["llama.cpp"].append(llama_round(bench, ppl, gguf_path, args))
        if args.torch:
            results["torch"].append(torch_round(model, args))
        print(f"round {r + 1}/{args.rounds}: " + json.dumps({k: v[-1] for k, v in results.items() if v}), file=sys.stderr, flush=True)

    def median(engine, phase):
        values = [x[phase] for x in results[engine] if x.get(phase) == x.get(phase)]
        return statistics.median(values) if values else float("nan")

    print(f"model {model}, {args.rounds} interleaved rounds, medians (tokens/s)")
    print()
    print("| phase | Copal | llama.cpp | Copal ÷ llama.cpp |" + (" PyTorch | Copal ÷ PyTorch |" if args.torch else ""))
    print("|---|---|---|---|" + ("---|---|" if args.torch else ""))
    for phase, label in (("prefill", f"prefill {args.prefill}"), ("perplexity", f"perplexity mode, context {args.prefill}"),
                         ("decode", f"decode {args.decode}")):
        c, l = median("copal", phase), median("llama.cpp", phase)
        line = f"| {label} | {c:.1f} | {l:.1f} | {c / l:.2f} |"
        if args.torch:
            t = median("torch", phase)
            line += f" {t:.1f} | {c / t:.2f} |"
        print(line)
    print()
    print("per round: " + json.dumps(results))


if __name__ == "__main__":
    main()
