#!/usr/bin/env python3
"""Differential test of Copal's chat-template renderer against Python's Jinja2 (set up as transformers sets it up,
from ../python-check.py) and @huggingface/jinja (the goldens' reference), over random templates or over real templates
with random conversations. Tool time only: the tests never run it.

    python3 differential.py random SEED COUNT [--out FILE]
    python3 differential.py wide SEED COUNT [--out FILE]
    python3 differential.py real SEED PER_TEMPLATE [--out FILE]

`random` renders COUNT templates of random_templates.py; `wide` the same with its wider choices (Gen(wide=True)); `real` renders every template of @huggingface/ollama-utils'
table (real-templates.mjs), the goldens' templates and the shared tokenizers' with PER_TEMPLATE random conversations
each. Prints the count of each outcome; --out writes every case with the three results (JSON) for triage.
Outcomes (cs = Copal, js = the reference, py = Jinja2): same3; refused3; cs=js!=py and cs=py!=js (Copal follows one);
CS-DIFFERS-BOTH (Copal's text is neither's); CS-REFUSES-JS-RENDERS; cs-refuses-py-renders(js-err); CRASH (an
exception other than ChatTemplateException: always a defect). docs/chat-templates.md lists the known differences.
Needs Jinja2, Node with `npm install --no-package-lock` done in tools/chat-templates, and the .NET SDK (render-copal.cs).
"""
import collections
import glob
import importlib.util
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import random_templates  # noqa: E402

spec = importlib.util.spec_from_file_location("python_check", os.path.join(HERE, "..", "python-check.py"))
python_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(python_check)
ENV = python_check.environment()

TEXTS = ["Hi!", "What is the weather in Paris?", "  spaced  \n", "", "Line1\nLine2", "é ß İ Σ 中文 🙂",
         "<think>hmm</think>The answer is 4.", "<think>\nplan\n</think>\n\n    return 1\n", "Use {{ braces }} and {% tags %}", "a\tb"]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"},
                                    "unit": {"type": "string", "enum": ["c", "f"]}, "n": {"type": "integer"}},
    "required": ["city"]}}}]


def conversation(r):
    msgs = []
    if r.random() < 0.5:
        msgs.append({"role": "system", "content": r.choice(["You are terse.", "", "System\nprompt"])})
    for i in range(r.randrange(1, 4)):
        msgs.append({"role": "user", "content": r.choice(TEXTS)})
        if r.random() < 0.3:
            args = r.choice([{"city": "Paris", "n": 2, "ok": True, "x": None, "t": 1.5}, {}, {"q": "é"}])
            if r.random() < 0.3:
                args = json.dumps(args)
            msgs.append({"role": "assistant", "content": r.choice([None, "", "Let me check."]),
                         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": args}}]})
            msgs.append({"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": r.choice(['{"temp": 20}', "sunny"])})
        if i < 2 or r.random() < 0.5:
            m = {"role": "assistant", "content": r.choice(TEXTS)}
            if r.random() < 0.2:
                m["reasoning_content"] = "Thinking about it."
            msgs.append(m)
    if r.random() < 0.5 and msgs[-1]["role"] == "assistant":
        msgs.append({"role": "user", "content": r.choice(TEXTS)})
    return msgs


def real_templates():
    out = json.loads(subprocess.run(["node", os.path.join(HERE, "real-templates.mjs")], capture_output=True, text=True, check=True).stdout)
    data = os.path.join(python_check.DATA, "templates")
    configs = glob.glob(os.path.join(data, "*", "tokenizer_config.json"))
    configs += [os.path.join(python_check.SHARED, "tokenizers", n, "tokenizer_config.json") for n in python_check.SHARED_TEMPLATES]
    for path in sorted(configs):
        with open(path, encoding="utf-8") as f:
            ct = json.load(f).get("chat_template")
        name = os.path.basename(os.path.dirname(path))
        if isinstance(ct, str):
            out.append({"model": name, "template": ct})
        elif isinstance(ct, list):
            out += [{"model": f"{name}:{x['name']}", "template": x["template"]} for x in ct]
    return out


def cases(mode, seed, count):
    if mode in ("random", "wide"):
        for i in range(count):
            r = random.Random(seed * 1000003 + i)
            yield {"id": i, "t": random_templates.Gen(r, wide=mode == "wide").template(), "v": random_templates.variables(r)}
        return
    i = 0
    for t in real_templates():
        for _ in range(count):
            r = random.Random(seed * 7919 + i)
            v = {"messages": conversation(r), "add_generation_prompt": r.random() < 0.5,
                 "tools": TOOLS if r.random() < 0.5 else None, "documents": None, "bos_token": "<s>", "eos_token": "</s>"}
            if r.random() < 0.3:
                v["enable_thinking"] = r.random() < 0.5
            if "functions" in t["template"]:  # firefunction-v2's variables
                v["functions"] = json.dumps(TOOLS)
                v["datetime"] = "2024-01-01"
            yield {"id": i, "model": t["model"], "t": t["template"], "v": v}
            i += 1


def python_render(c):
    try:
        return {"ok": ENV.from_string(c["t"]).render(**c["v"])}
    except Exception as e:  # noqa: BLE001 - every failure is an outcome here
        return {"err": f"{type(e).__name__}: {e}"}


def run(cmd, lines, cwd):
    p = subprocess.run(cmd, input=lines, capture_output=True, text=True, cwd=cwd)
    if p.returncode:
        sys.exit(f"differential.py: {' '.join(cmd)} failed (exit {p.returncode}): {p.stderr[-2000:]}")
    return [json.loads(line) for line in p.stdout.splitlines()]


def outcome(py, js, cs):
    if cs.get("kind") == "crash":
        return "CRASH"
    if "ok" in cs:
        if py.get("ok") == cs["ok"] and js.get("ok") == cs["ok"]:
            return "same3"
        if js.get("ok") == cs["ok"]:
            return "cs=js!=py" + ("" if "ok" in py else "(py-err)")
        if py.get("ok") == cs["ok"]:
            return "cs=py!=js" + ("" if "ok" in js else "(js-err)")
        return "CS-DIFFERS-BOTH" + ("" if "ok" in py or "ok" in js else "(both-err)")
    if "ok" not in py and "ok" not in js:
        return "refused3"
    if "ok" in js:
        return "CS-REFUSES-JS-RENDERS" + ("" if "ok" in py else "(py-err)")
    return "cs-refuses-py-renders(js-err)"


def main(argv):
    out = None
    if "--out" in argv:
        k = argv.index("--out")
        out = argv[k + 1]
        argv = argv[:k] + argv[k + 2:]
    if len(argv) != 3 or argv[0] not in ("random", "wide", "real") or not argv[1].isdigit() or not argv[2].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    all_cases = list(cases(argv[0], int(argv[1]), int(argv[2])))
    lines = "".join(json.dumps({"t": c["t"], "v": c["v"]}, ensure_ascii=False) + "\n" for c in all_cases)
    js = run(["node", "render-reference.mjs"], lines, HERE)
    cs = run(["dotnet", "run", "render-copal.cs"], lines, HERE)
    counts = collections.Counter()
    results = []
    for c, j, k in zip(all_cases, js, cs):
        p = python_render(c)
        o = outcome(p, j, k)
        counts[o] += 1
        results.append({"outcome": o, **c, "py": p, "js": j, "cs": k})
    for name, n in sorted(counts.items()):
        print(f"{name}: {n}")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(results, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
