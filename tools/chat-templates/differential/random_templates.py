"""Random Jinja templates over the features real chat templates use (for differential.py), and random variables.

Gen(rnd, wide=True) (differential.py's `wide` mode) also draws, a quarter of the time, from the WIDE_* choices below:
int and float of number-like strings with a default and a base, unique of strings and mappings, map with a filter,
split with a count, the tests real templates use (defined, none, string, iterable, mapping, sequence, number), sets
inside block set, filter and call bodies, and loop.depth. Without it the draws are those of earlier runs (same seed,
same templates).

Expressions are drawn by the kind of value they give (strings, numbers, booleans, lists, mappings) so that most
renders get past the first operation; statements are if/elif/else, for (with a filter, else, break/continue and
loop.*), set (also namespace attributes and blocks), macros, filter and call blocks, comments and whitespace control.
"""
import json, random

STRS = ["", " ", "a", "Hello", "hello world", "  padded \n", "x,y,z", "é ß İ", "<|im_start|>", "ab'c\"d", "a\nb", "tool_call", "Σ final", "MiXeD cAsE", "they're", "123", "-4.5", "user", "assistant", "\t tab"]
STR_VARS = ["s", "bos_token", "eos_token", "m.role", "m.content", "messages[0].content", "messages[0]['role']", "d.name", "t.function.name", "tc.function.name"]
INT_VARS = ["n", "xs[0]", "xs|length", "messages|length", "loop_n", "d.num"]
LIST_VARS = ["xs", "ss", "messages", "tools", "d.tags", "m.tool_calls", "nested.items_", "[]", "fs"]
DICT_VARS = ["d", "m", "messages[0]", "nested", "t", "t.function", "tc", "tc.function.arguments", "{}"]
ANY_VARS = ["undef", "nul", "d.missing", "m.missing", "flag", "f", "d.none_val"]
FILTERS_S = ["trim", "upper", "lower", "title", "capitalize", "string", "length", "tojson", "list", "first", "last", "reverse", "safe", "int", "float", "default('dflt')", "default('dflt', true)", "replace('a','X')", "replace('l','')", "indent(2)", "indent(2, true)", "indent(4, first=true)", "trim('x')", "wordcount", "center(9)", "e", "escape", "striptags", "truncate(5)"]
TESTS = ["defined", "undefined", "none", "string", "mapping", "iterable", "number", "sequence", "integer", "float", "boolean", "true", "false", "odd", "even", "callable", "lower", "upper", "in ['a', 'user', 1]", "equalto 1", "eq 'user'", "sameas none", "divisibleby 3", "ne 2", "gt 1", "lt 3", "ge 1", "le 2"]

_C0 = ['strip()', 'lstrip()', 'rstrip()', 'upper()', 'lower()', 'title()', 'capitalize()', 'strip("x")', 'replace("l", "L")', 'split(",")[0]', 'split()|join("-")', 'startswith("a")', 'endswith("d")', 'count("a")', 'find("l")', 'format(1)', 'join(["a","b"])', 'splitlines()|length', 'removeprefix("H")', 'zfill(5)', 'isdigit()', 'casefold()']
_C1 = ['', '(indent=2)', '(indent=0)', '(separators=(",", ":"))', '(ensure_ascii=true)', '(sort_keys=true)', '(indent=4, separators=(",", ": "))', '(2)']
_C2 = ['"%s-%s"', '"<%s>"', '"%d items"', '"%r"', '"%5s|"', '"%.2f"']
_C3 = ['int', 'float', 'abs', 'round', 'round(1)', 'round(0, "floor")', 'length', 'int(7)', 'float(0.5)']
_C4 = ['startswith', 'endswith']
_C5 = '("a", "H")'
_C6 = ['select', 'reject', 'select("string")', 'reject("none")', 'select("odd")', 'reject("in", [1, "a"])', 'select("equalto", "user")', 'select("defined")']
_C7 = ['', '|list']
_C8 = ['messages', 'tools', 'm.tool_calls', '[d, {}]']
_C9 = ['selectattr', 'rejectattr']
_C10 = ['"role"', '"role", "equalto", "user"', '"role", "eq", "assistant"', '"content", "none"', '"content", "defined"', '"type", "in", ["function"]', '"content", "string"', '"tool_calls"']
_C11 = ['messages', 'tools', 'm.tool_calls', '[d, d]']
_C12 = ['attribute="role"', 'attribute="function.name"', 'attribute="content", default="-"', '"upper"', '"string"', 'attribute=0', 'attribute="missing"']
_C13 = ['unique', 'sort', 'sort(reverse=true)', 'sort(attribute="role")', 'reverse', 'list', 'batch(2)', 'slice(2)', 'unique(case_sensitive=true)', 'map("string")']
_C14 = ['', '","', '" "', '"l"', 'none', '",", 1']
_C15 = ['items', 'dictsort', 'dictsort(reverse=true)', 'dictsort(by="value")', 'dictsort(true)', 'list']
_C16 = ['', '|list']
_C17 = ['found=false', 'count=0, text=""', 'x=1']
_C18 = ['found', 'count', 'text', 'x']
_C19 = ['upper', 'trim', 'replace("a", "b")']

WIDE_NUM_STRS = ["'12abc'", "' 12 '", "'0x1A'", "'1_000'", "'-1.5'", "'nan'", "'1e3'", "'010'", "'0b101'", "'inf'", "'+7'", "''", "'1__0'", "'z'"]
WIDE_NUM_FILTERS = ['int', 'int(7)', 'int(0, 16)', 'int(base=0)', 'int(default=-1, base=2)', 'int(0, 36)', 'float', 'float(1.5)', 'float|int', 'int("d")']
WIDE_STR_FILTERS = ['unique|join', 'unique(true)|join("-")', 'upper', 'capitalize', 'title', 'trim("<>|")', 'wordcount', 'first', 'last', 'reverse', 'center(7)', 'truncate(4)', 'count', 'replace("a", "b", 1)', 'indent(2)', 'int|string', 'float|string']
WIDE_LIST = ['{d}|unique|list', '({s})|unique|list', 'ss|map("upper")|list', 'xs|map("int")|list', 'ss|map("trim")|list', 'messages|map(attribute="role")|unique|list',
             '({s}).split(",", 1)', '({s}).rsplit(" ", 1)', '({s}).split(none, 1)', 'xs|sort(reverse=true)|list', '{d}|dictsort|map("first")|list', 'fs|map("int")|list', '[{s}, none, 1.5]|map("float")|list']
WIDE_TESTS = ['defined', 'none', 'string', 'iterable', 'mapping', 'sequence', 'number', 'integer', 'float', 'boolean', 'in ss', 'sameas false']


class Gen:
    def __init__(self, rnd, wide=False):
        self.r = rnd
        self.wide = wide
        self.loopvars = []  # names bound by enclosing for loops
        self.in_loop = 0
        self.macros = []

    def c(self, xs):
        return self.r.choice(xs)

    def p(self, prob):
        return self.r.random() < prob

    def lit_str(self):
        s = self.c(STRS)
        q = self.c(["'", '"'])
        body = s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace(q, "\\" + q)
        return q + body + q

    def str_e(self, d):
        if self.wide and self.p(0.25):
            k = self.r.randrange(3)
            if k == 0: return f"({self.c(WIDE_NUM_STRS)}) | {self.c(WIDE_NUM_FILTERS)} | string"
            if k == 1: return f"({self.str_e(d-1)}) | {self.c(WIDE_STR_FILTERS)}"
            return f"({self.any_e(d-1)}) | {self.c(WIDE_NUM_FILTERS)} | string"
        if d <= 0 or self.p(0.3):
            return self.c([self.lit_str(), self.lit_str(), self.c(STR_VARS)] + self.loopvars)
        k = self.r.randrange(16)
        if k == 0: return f"{self.str_e(d-1)} ~ {self.any_e(d-1)}"
        if k == 1: return f"({self.str_e(d-1)} + {self.str_e(d-1)})"
        if k == 2: return f"{self.str_e(d-1)} | {self.c(FILTERS_S)}"
        if k == 3: return f"({self.str_e(d-1)}).{self.c(_C0)}"
        if k == 4: return f"({self.str_e(d-1)})[{self.slice_e(d-1)}]"
        if k == 5: return f"{self.list_e(d-1)} | join({self.c(['', ', ', repr(chr(10))])})".replace("()", "")
        if k == 6: return f"({self.any_e(d-1)}) | tojson{self.c(_C1)}"
        if k == 7: return f"({self.str_e(d-1)} if {self.bool_e(d-1)} else {self.str_e(d-1)})"
        if k == 8: return f"({self.str_e(d-1)} if {self.bool_e(d-1)})"
        if k == 9: return f"{self.dict_e(d-1)}.get({self.lit_str()}, {self.str_e(d-1)})"
        if k == 10: return f"{self.c(_C2)} % {self.c(['(' + self.any_e(d-1) + ', ' + self.any_e(d-1) + ')', self.any_e(d-1), '(' + self.any_e(d-1) + ',)'])}"
        if k == 11: return f"({self.str_e(d-1)} * {self.int_e(d-1)})"
        if k == 12: return f"{self.list_e(d-1)} | {self.c(['first', 'last', 'string', 'join', 'length', 'sum', 'max', 'min'])}"
        if k == 13: return f"({self.any_e(d-1)}) | string"
        if k == 14: return f"{self.dict_e(d-1)}[{self.lit_str()}]"
        return f"{self.any_e(d-1)} | default({self.str_e(d-1)}{self.c(['', ', true', ', boolean=true'])})"

    def slice_e(self, d):
        a = lambda: self.c(["", "0", "1", "-1", "2", "-2", "10", "n"])
        return self.c([f"{a()}:{a()}", f"{a()}:{a()}:{self.c(['-1', '2', '1', '-2'])}", f"{self.c(['0', '1', '-1', 'n'])}", f"::-1"])

    def int_e(self, d):
        if self.wide and self.p(0.25):
            return f"({self.c(WIDE_NUM_STRS + [self.any_e(d-1)])}) | {self.c(WIDE_NUM_FILTERS)}"
        if d <= 0 or self.p(0.3):
            return self.c(["0", "1", "2", "3", "-1", "10", "2.5", "-0.5", "1.0", "1e3"] + INT_VARS + (["loop.index", "loop.index0", "loop.revindex", "loop.length"] if self.in_loop else []))
        k = self.r.randrange(9)
        op = self.c(["+", "-", "*", "/", "//", "%", "**"])
        if k <= 2: return f"({self.int_e(d-1)} {op} {self.int_e(d-1)})"
        if k == 3: return f"({self.any_e(d-1)}) | {self.c(_C3)}"
        if k == 4: return f"-{self.int_e(d-1)}"
        if k == 5: return f"{self.list_e(d-1)} | length"
        if k == 6: return f"({self.str_e(d-1)}) | length"
        if k == 7: return f"({self.int_e(d-1)} if {self.bool_e(d-1)} else {self.int_e(d-1)})"
        return f"range({self.c(['3', '0', '1, 4', '5, 0, -2', 'n'])}) | {self.c(['list|length', 'last', 'first', 'sum', 'join'])}"

    def bool_e(self, d):
        if self.wide and self.p(0.25):
            return f"({self.any_e(d-1)}) is {self.c(['', 'not '])}{self.c(WIDE_TESTS)}"
        if d <= 0 or self.p(0.25):
            return self.c(["true", "false", "True", "none", "flag", "add_generation_prompt", "undef", "nul"] + (["loop.first", "loop.last"] if self.in_loop else []))
        k = self.r.randrange(10)
        if k == 0: return f"({self.any_e(d-1)} {self.c(['==', '!=', '<', '>', '<=', '>='])} {self.any_e(d-1)})"
        if k == 1: return f"{self.any_e(d-1)} is {self.c(['', 'not '])}{self.c(TESTS)}"
        if k == 2: return f"({self.any_e(d-1)} {self.c(['in', 'not in'])} {self.c([self.list_e(d-1), self.str_e(d-1), self.dict_e(d-1)])})"
        if k == 3: return f"({self.bool_e(d-1)} {self.c(['and', 'or'])} {self.bool_e(d-1)})"
        if k == 4: return f"not {self.bool_e(d-1)}"
        if k == 5: return f"({self.str_e(d-1)}).{self.c(_C4)}({self.c([self.lit_str(), _C5])})"
        if k == 6: return f"({self.int_e(d-1)} {self.c(['<', '<=', '=='])} {self.int_e(d-1)} {self.c(['<', '<=', '=='])} {self.int_e(d-1)})"
        if k == 7: return f"({self.any_e(d-1)}) | bool"
        if k == 8: return f"{self.c(['m', 'messages[0]', 'd', 't'])}.{self.c(['content', 'tool_calls', 'missing', 'role'])} is {self.c(['defined', 'not none', 'string', 'not defined'])}"
        return self.any_e(d-1)

    def list_e(self, d):
        if self.wide and self.p(0.25):
            return self.c(WIDE_LIST).format(d=self.dict_e(d-1), s=self.str_e(d-1))
        if d <= 0 or self.p(0.3):
            return self.c(LIST_VARS + ["[1, 2, 3]", "['b', 'a', 'B']", "[none, 0, '', 'x']", "(1, 'a')", "[[1, 'a'], [2, 'b']]"])
        k = self.r.randrange(12)
        if k == 0: return f"{self.list_e(d-1)} | {self.c(_C6)}{self.c(_C7)}"
        if k == 1: return f"{self.c(_C8)} | {self.c(_C9)}({self.c(_C10)})| list"
        if k == 2: return f"{self.c(_C11)} | map({self.c(_C12)}) | list"
        if k == 3: return f"{self.list_e(d-1)} | {self.c(_C13)} | list"
        if k == 4: return f"({self.str_e(d-1)}).split({self.c(_C14)})"
        if k == 5: return f"{self.dict_e(d-1)}.{self.c(['items()', 'keys()', 'values()'])}{self.c(['', '|list'])}"
        if k == 6: return f"{self.dict_e(d-1)} | {self.c(_C15)}{self.c(_C16)}"
        if k == 7: return f"{self.list_e(d-1)}[{self.slice_e(d-1)}]"
        if k == 8: return f"({self.list_e(d-1)} + {self.list_e(d-1)})"
        if k == 9: return f"range({self.c(['3', '0', '1, 4', '5, 0, -2', 'n', '-2', '0, 10, 3'])})"
        if k == 10: return f"[{', '.join(self.any_e(d-1) for _ in range(self.r.randrange(4)))}]"
        return f"({self.str_e(d-1)}) | list"

    def dict_e(self, d):
        if d <= 0 or self.p(0.4):
            return self.c(DICT_VARS + self.loopvars)
        k = self.r.randrange(3)
        if k == 0: return "{" + ", ".join(f"{self.lit_str()}: {self.any_e(d-1)}" for _ in range(self.r.randrange(3))) + "}"
        if k == 1: return f"({self.c(['messages', 'tools', 'xs'])} | {self.c(['first', 'last'])})"
        return f"{self.c(['messages', 'ss', 'tools', 'xs'])}[{self.c(['0', '-1', '1', 'n', '10'])}]"

    def any_e(self, d):
        k = self.r.randrange(7)
        if k == 0: return self.str_e(d)
        if k == 1: return self.int_e(d)
        if k == 2: return self.bool_e(d)
        if k == 3: return self.list_e(d)
        if k == 4: return self.dict_e(d)
        if k == 5: return self.c(ANY_VARS + self.loopvars + (["loop.previtem", "loop.nextitem", "loop.cycle('a','b')", "loop.depth", "loop.changed(1)"] if self.in_loop else []))
        return self.str_e(d)

    # ---- statements ----
    def ws(self):
        return self.c(["", "", "", "-"])

    def tag(self, body):
        return "{%" + self.ws() + " " + body + " " + self.ws() + "%}"

    def nl(self):
        return self.c(["", "", "\n", "  ", "\n  ", " | ", "\n\n", "\t"])

    def block(self, d, n=None):
        n = n if n is not None else self.r.randrange(1, 4)
        return "".join(self.stmt(d) + self.nl() for _ in range(n))

    def stmt(self, d):
        if d <= 0:
            return self.c([self.output(1), self.text()])
        if self.wide and self.p(0.15):
            name = self.c(["s", "n", "y"])
            inner = self.tag(f"set {name} = {self.any_e(1)}") + self.block(d-1, 1) + "{{ " + name + " }}"
            k = self.r.randrange(4)
            if k == 0: return self.tag("set blk") + inner + self.tag("endset") + "{{ blk }}|{{ " + name + " }}"
            if k == 1: return self.tag(f"filter {self.c(_C19)}") + inner + self.tag("endfilter") + "|{{ " + name + " }}"
            if k == 2: return self.tag("macro w()") + "[{{ caller() }}]" + self.tag("endmacro") + self.tag("call w()") + inner + self.tag("endcall") + "|{{ " + name + " }}"
            self.in_loop += 1
            body = inner + "{{ loop.depth }}{{ loop.depth0 }}" + self.tag(f"if {self.bool_e(1)}") + self.tag(self.c(["break", "continue"])) + self.tag("endif") + self.block(d-1, 1)
            self.in_loop -= 1
            return self.tag(f"for x in {self.c(['xs', 'ss', 'range(3)', 'messages'])}") + body + self.tag("endfor") + "|{{ " + name + " }}"
        k = self.r.randrange(14)
        if k in (11, 12) and self.p(0.85): k = 0
        if k in (0, 1, 2): return self.output(3)
        if k == 3: return self.text()
        if k == 4:
            s = self.tag(f"if {self.bool_e(2)}") + self.nl() + self.block(d-1)
            for _ in range(self.r.randrange(2)):
                s += self.tag(f"elif {self.bool_e(2)}") + self.nl() + self.block(d-1)
            if self.p(0.5): s += self.tag("else") + self.nl() + self.block(d-1)
            return s + self.tag("endif")
        if k in (5, 6):
            var = self.c(["x", "item", "message", "k, v", "a, b"])
            it = self.c([self.list_e(2), "messages", "tools", "d.items()", "d|dictsort", "range(3)", "ss", "xs"])
            if "," in var and self.p(0.6): it = self.c(["d.items()", "d|dictsort", "[[1, 'a'], [2, 'b']]", "nested.items()"])
            filt = f" if {self.bool_e(1)}" if self.p(0.2) else ""
            names = [v.strip() for v in var.split(",")]
            self.loopvars += names; self.in_loop += 1
            body = self.block(d-1)
            if self.p(0.2): body += self.tag(f"if {self.bool_e(1)}") + self.tag(self.c(["break", "continue"])) + self.tag("endif") + self.block(d-2 if d > 1 else 0, 1)
            self.in_loop -= 1
            for _ in names: self.loopvars.pop()
            s = self.tag(f"for {var} in {it}{filt}") + self.nl() + body
            if self.p(0.2): s += self.tag("else") + self.nl() + self.block(d-1, 1)
            return s + self.tag("endfor")
        if k == 7:
            name = self.c(["s", "n", "y", "z"])
            return self.tag(f"set {name} = {self.any_e(2)}")
        if k == 8:
            return self.tag(f"set ns = namespace({self.c(_C17)})") + self.nl() + self.tag(f"set ns.{self.c(_C18)} = {self.any_e(2)}") + self.nl() + self.output(0).replace("{{ ", "{{ ns.found ~ ns.count ~ ").replace("{{- ", "{{- ns.x ~ ")
        if k == 9:
            return self.tag(f"set {self.c(['blk', 's'])}") + self.block(d-1, 1) + self.tag("endset") + "{{ " + self.c(["blk", "s", "blk|trim"]) + " }}"
        if k == 10:
            args = self.c(["", "a", "a, b='B'", "a=1, b=none"])
            call = self.c(["mac('p')", "mac()", "mac('p', 'q')", "mac(b='k', a=2)", "mac(1)|trim", "mac('p', b=xs)"])
            return self.tag(f"macro mac({args})") + self.nl() + self.block(d-1, 1) + "{{ a if a is defined }}{{ b if b is defined }}" + self.tag("endmacro") + "{{ " + call + " }}"
        if k == 11:
            return self.tag(f"filter {self.c(_C19)}") + self.block(d-1, 1) + self.tag("endfilter")
        if k == 12:
            return self.tag("macro w()") + "[{{ caller() }}]" + self.tag("endmacro") + self.tag("call w()") + self.block(d-1, 1) + self.tag("endcall")
        return "{#" + self.ws() + " comment " + self.ws() + "#}"

    def output(self, d):
        return "{{" + self.ws() + " " + self.any_e(d) + " " + self.ws() + "}}"

    def text(self):
        return self.c(["text", "<s>", "\n", "  indented\n", "[INST] ", " ", "\n\n", "a\n  b", "é"])

    def template(self):
        return self.block(3, self.r.randrange(1, 5))


def variables(rnd):
    msgs = []
    roles = ["system", "user", "assistant", "tool", "user", "assistant"]
    for i in range(rnd.randrange(1, 5)):
        role = roles[i % len(roles)] if rnd.random() < 0.8 else rnd.choice(roles)
        m = {"role": role}
        k = rnd.randrange(10)
        if k < 6: m["content"] = rnd.choice(STRS + ["Hi there!", "  What is 2+2?  ", "Answer: <think>hmm</think>4"])
        elif k < 7: m["content"] = None
        elif k < 9: m["content"] = [{"type": "text", "text": rnd.choice(STRS)}] + ([{"type": "image"}] if rnd.random() < 0.5 else [])
        if role == "assistant" and rnd.random() < 0.4:
            m["tool_calls"] = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": rnd.choice([{"city": "Paris", "n": 2, "ok": True, "x": None}, '{"city": "Paris"}', {}])}}]
        if role == "tool": m["tool_call_id"] = "call_1"; m["name"] = "get_weather"
        if rnd.random() < 0.2: m["reasoning_content"] = "thinking..."
        msgs.append(m)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City"}, "n": {"type": "integer"}}, "required": ["city"]}}}]
    return {
        "messages": msgs,
        "tools": tools if rnd.random() < 0.7 else None,
        "add_generation_prompt": rnd.random() < 0.5,
        "bos_token": "<s>", "eos_token": "</s>",
        "s": rnd.choice(STRS), "n": rnd.choice([0, 1, 2, 3, -1]), "f": rnd.choice([1.5, 2.0, -0.25, 0.1]),
        "flag": rnd.random() < 0.5, "nul": None,
        "xs": rnd.choice([[1, 2, 3], [3, 1, 2, 2], [], [0]]), "ss": rnd.choice([["b", "a", "B"], ["user"], [], ["x", "x"]]),
        "fs": [1.5, 2.0, -3.25],
        "d": {"name": rnd.choice(STRS), "num": 7, "tags": ["t1", "t2"], "none_val": None, "b": True, "a": 1, "10": "ten", "2": "two"},
        "nested": {"items_": [{"role": "user", "content": "x"}], "z": {"y": [1, {"k": "v"}]}, "A": 0},
        "t": tools[0], "tc": {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}},
        "m": msgs[-1], "loop_n": 2,
    }
