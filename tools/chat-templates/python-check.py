#!/usr/bin/env python3
"""Renders the goldens' templates the way Python transformers' apply_chat_template does, and prints every render
whose text differs from the committed transformers.js golden.

The goldens (and so copal) follow transformers.js; models are mostly trained with Python transformers. This shows
where the two disagree on the real templates and conversations. Tool time only: the tests never run Python.
Needs Jinja2 (3.x), not transformers; the environment is rebuilt from transformers' documented behaviour:
a sandboxed Jinja2 environment with trim_blocks, lstrip_blocks and the loopcontrols extension, its own tojson
(json.dumps with ensure_ascii=False, indent, separators, sort_keys), raise_exception, strftime_now, and the
{% generation %} block (rendered as its body); variables messages, tools, documents, add_generation_prompt, the
special tokens the config sets, then the case's extra variables.

    python3 tools/chat-templates/python-check.py [--show]

--show prints both texts of each difference (JSON-escaped). Exit codes: 0 when it ran (differences or none),
1 when a file is missing or Jinja2 is not installed, 2 for a usage error. The shared tokenizers are read from
$COPAL_SHARED_DATA, else ../shared/data beside the repository, as render-goldens.mjs reads them.
"""
import datetime
import json
import os
import sys

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.exit("python-check.py: Jinja2 is not installed (pip install jinja2)")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "tests", "Copal.Model.Tests", "ChatTemplates", "Data")
SHARED = os.environ.get("COPAL_SHARED_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")
SHARED_TEMPLATES = ("llama3", "qwen3")  # read from the shared tokenizers, as ChatTemplateGoldens does
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


class GenerationBlock(Extension):
    """transformers' {% generation %}...{% endgeneration %}: marks assistant text for masks; renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.datetime.now().strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def load_config(name):
    folder = os.path.join(SHARED, "tokenizers", name) if name in SHARED_TEMPLATES else os.path.join(DATA, "templates", name)
    with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
        return json.load(f)


def pick_template(chat_template, has_tools):
    """A string, or the named list: tool_use when tools are given and it exists, else default (as transformers)."""
    if isinstance(chat_template, str):
        return chat_template
    named = {t["name"]: t["template"] for t in chat_template}
    return named["tool_use"] if has_tools and "tool_use" in named else named["default"]


def render(env, template, config, conversations, case, add_generation_prompt):
    tools = conversations["tools"][case["tools"]] if "tools" in case else None
    variables = {}
    for key in SPECIAL_TOKENS:
        value = config.get(key)
        value = value.get("content") if isinstance(value, dict) else value
        if value:
            variables[key] = value
    variables.update(case.get("extra", {}))
    try:
        text = env.from_string(pick_template(template, tools is not None)).render(
            messages=json.loads(json.dumps(case["messages"])), tools=tools, documents=None,
            add_generation_prompt=add_generation_prompt, **variables)
        return {"output": text}
    except Exception as e:  # the template's own raise_exception, or an operation Jinja2 refuses
        return {"error": f"{type(e).__name__}: {e}"}


def summary(result):
    if "error" in result:
        return "refuses (" + result["error"][:100] + ")"
    return f"renders {len(result['output'])} characters"


def main(argv):
    if any(a != "--show" for a in argv):
        print("usage: python3 tools/chat-templates/python-check.py [--show]", file=sys.stderr)
        return 2
    show = "--show" in argv
    try:
        with open(os.path.join(DATA, "conversations.json"), encoding="utf-8") as f:
            conversations = json.load(f)
        names = sorted(f[:-len(".jsonl")] for f in os.listdir(os.path.join(DATA, "goldens")) if f.endswith(".jsonl"))
        env = environment()
        same = refused_by_both = 0
        differences = []
        for name in names:
            config = load_config(name)
            cases = {c["id"]: c for c in conversations["cases"]}
            with open(os.path.join(DATA, "goldens", name + ".jsonl"), encoding="utf-8") as f:
                goldens = [json.loads(line) for line in f if line.strip()]
            for golden in goldens:
                python = render(env, config["chat_template"], config, conversations, cases[golden["case"]], golden["add_generation_prompt"])
                if "error" in golden and "error" in python:
                    refused_by_both += 1
                elif golden.get("output") is not None and golden.get("output") == python.get("output"):
                    same += 1
                else:
                    differences.append((name, golden, python))
    except OSError as e:
        print(f"python-check.py: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    for name, golden, python in differences:
        print(f"{name} {golden['case']} add_generation_prompt={str(golden['add_generation_prompt']).lower()}: "
              f"transformers.js {summary(golden)}; Python {summary(python)}")
        if show:
            print("  transformers.js: " + json.dumps(golden.get("output", golden.get("error")), ensure_ascii=False))
            print("  Python:          " + json.dumps(python.get("output", python.get("error")), ensure_ascii=False))
    print(f"{same + refused_by_both + len(differences)} renders: {same} identical, {refused_by_both} refused by both, "
          f"{len(differences)} different")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
