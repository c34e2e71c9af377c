#!/usr/bin/env python3
"""Interleaves Copal's `probe prune-steps` with the PyTorch peer (prune_peer.py), round after round, and prints the
median seconds of every step and the ratio torch / Copal per step (above 1: Copal is faster) as a Markdown table,
with the load average before each run: once for the wall clock and once for the process's CPU seconds (all threads).
On a shared machine only ratios from interleaved rounds mean much, and the CPU seconds more than the wall clock.

`--copal` takes one or more built Copal.Benchmarks.dll files (a tree before and after a change, say); each round runs
them in the order given, then torch.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None):
    load = os.getloadavg()[0]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    result = json.loads(line)
    result["load"] = load
    # Each run's whole result as it comes, so an interrupted session keeps the rounds it finished.
    print(f"# load {load:.1f}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copal", nargs="+", required=True, help="Copal.Benchmarks.dll built in Release (one or more)")
    parser.add_argument("--method", choices=["sparsegpt", "wanda"], required=True)
    parser.add_argument("--pattern", default="0.5", help="0.5 (unstructured ratio) or N:M")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nsamples", type=int, default=32)
    parser.add_argument("--seqlen", type=int, default=512)
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter with torch (Debian's by default)")
    parser.add_argument("--blas", help="a folder holding the libblas.so.3 and liblapack.so.3 torch is to load (see README.md)")
    args = parser.parse_args()
    sizes = ["--nsamples", str(args.nsamples), "--seqlen", str(args.seqlen)]
    peer = [args.python, os.path.join(HERE, "prune_peer.py"), "--method", args.method, "--threads", "2", *sizes]
    peer += ["--pattern", args.pattern] if ":" in args.pattern else ["--sparsity", args.pattern]
    peer_env = dict(os.environ)
    if args.blas:
        peer_env["LD_LIBRARY_PATH"] = args.blas
        peer_env["OPENBLAS_NUM_THREADS"] = "2"
    results = {dll: [] for dll in args.copal}
    results["torch"] = []
    for _ in range(args.rounds):
        for dll in args.copal:
            results[dll].append(run(["dotnet", dll, "probe", "prune-steps", args.method, args.pattern, *sizes]))
        results["torch"].append(run(peer, peer_env))
    names = [f"Copal {i + 1}" if len(args.copal) > 1 else "Copal" for i in range(len(args.copal))]
    loads = [r["load"] for rs in results.values() for r in rs]
    print(f"{args.method} {args.pattern}, {args.rounds} interleaved rounds, {args.nsamples} × {args.seqlen} tokens, "
          f"load average {min(loads):.1f}–{max(loads):.1f}; {', '.join(f'{n} = {d}' for n, d in zip(names, args.copal))}")
    # The wall clock, then the process's CPU seconds (all threads): under load the wall clock measures the queue.
    for clock in ("seconds", "cpu"):
        if not all(clock in r for rs in results.values() for r in rs):
            continue
        print(f"\n{'wall-clock seconds' if clock == 'seconds' else 'CPU seconds (all threads)'}:\n")
        table(results, args.copal, names, clock)


def table(results, dlls, names, clock):
    torch_steps = results["torch"][0][clock].keys()
    steps = list(dict.fromkeys([*results[dlls[0]][0][clock].keys(), *torch_steps]))
    print("| step | " + " | ".join(f"{n} (s)" for n in names) + " | torch (s) | " + " | ".join(f"torch / {n}" for n in names) + " |")
    print("|---" * (2 + 2 * len(names)) + "|")
    for step in steps:
        t = [r[clock][step] for r in results["torch"] if step in r[clock]]
        cells, ratios = [], []
        for dll in dlls:
            c = [r[clock][step] for r in results[dll] if step in r[clock]]
            cells.append(f"{statistics.median(c):.2f}" if c else "—")
            # The ratio of each round's pair, then the median: the pair ran minutes apart, the rounds farther.
            pairs = [tr[clock][step] / cr[clock][step] for tr, cr in zip(results["torch"], results[dll])
                     if step in tr[clock] and step in cr[clock] and cr[clock][step] > 0]
            ratios.append(f"{statistics.median(pairs):.2f}" if pairs else "—")
        torch_cell = f"{statistics.median(t):.2f}" if t else "—"
        print(f"| {step} | {' | '.join(cells)} | {torch_cell} | {' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
