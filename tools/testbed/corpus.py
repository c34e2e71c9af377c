#!/usr/bin/env python3
"""Build the four-domain corpus of the testbed model from Debian packages and the shared TinyStories sample.

    corpus.py --data DATA --out DIR [--linux-tar /usr/src/linux-source-6.1.tar.xz]

Writes DIR/{stories,python,c,prose}/{train,calib,eval}.txt and DIR/manifest.json (package, version, licence,
document counts, sizes and sha256 of every split). Deterministic: documents are ordered by the sha256 of their
content; the same inputs give byte-identical outputs.

Document = one story (TinyStories), one source file (Python, C), one documentation page (Python docs HTML
rendered to plain text). Documents are deduplicated exactly (sha256 of the text with all whitespace runs
collapsed); documents containing the literal special-token text `<s>`, `</s>` or `<unk>` are dropped (HF
tokenizers match those as special tokens, SentencePiece does not; keeping them out makes both agree). Within
one split, documents are joined with one empty line ("\n\n"). Splits are disjoint sets of documents: the
evaluation split takes documents in hash order until EVAL_CHARS, then calibration until CALIB_CHARS, the rest is
train (capped at TRAIN_CHARS); TinyStories uses STORIES_HELDOUT_CHARS for both held-out splits. Only documents of at most MAX_HELDOUT_CHARS go to eval/calib, so held-out
splits hold many documents.
"""

import argparse
import hashlib
import html.parser
import json
import os
import re
import subprocess
import tarfile

EVAL_CHARS = 120_000
CALIB_CHARS = 120_000
TRAIN_CHARS = 4_000_000
STORIES_HELDOUT_CHARS = 60_000
MAX_HELDOUT_CHARS = 12_000
MAX_DOC_CHARS = 60_000  # longer files are cut at a line end (keeps one huge generated file from dominating)
SPECIAL_TEXT = ("<s>", "</s>", "<unk>")

LINUX_DIRS = ("kernel/", "mm/", "fs/ext4/", "fs/btrfs/", "net/ipv4/", "net/core/", "drivers/net/ethernet/intel/",
              "lib/", "block/", "drivers/gpu/drm/i915/")


def dpkg_version(pkg):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return out.stdout.strip() or None


def norm_key(text):
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def clean(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    if len(text) > MAX_DOC_CHARS:
        cut = text.rfind("\n", 0, MAX_DOC_CHARS)
        text = text[: cut if cut > 0 else MAX_DOC_CHARS]
    return text


# ---------------------------------------------------------------------------------------------------------
# Domain readers: each returns a list of document strings
# ---------------------------------------------------------------------------------------------------------

def read_stories(data):
    path = os.path.join(data, "text", "tinystories", "sample.txt")
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    parts = raw.split("<|endoftext|>")
    # the first and the last piece are partial stories (the sample starts and ends mid-story)
    return [p.strip() for p in parts[1:-1] if p.strip()]


def read_python(root="/usr/lib/python3.11"):
    docs = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        if rel.startswith(("site-packages", "dist-packages", "config-")):
            dirs.clear()
            continue
        for fn in sorted(files):
            if fn.endswith(".py"):
                with open(os.path.join(d, fn), encoding="utf-8", errors="replace") as f:
                    docs.append(f.read())
    return docs


def read_c(tar_path):
    docs = []
    with tarfile.open(tar_path, "r:xz") as tf:
        for m in tf:
            if not m.isfile():
                continue
            name = m.name.split("/", 1)[1] if "/" in m.name else m.name
            if not name.endswith((".c", ".h")) or not name.startswith(LINUX_DIRS):
                continue
            data = tf.extractfile(m).read()
            docs.append(data.decode("utf-8", errors="replace"))
    return docs


class _HtmlText(html.parser.HTMLParser):
    """Text of the Sphinx 'body' div: paragraphs and headings separated by blank lines, <pre> kept verbatim."""
    BLOCK = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "pre", "tr", "div", "section", "blockquote"}
    SKIP = {"script", "style"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth_body = 0  # >0 while inside the body div
        self.div_stack = []
        self.skip = 0
        self.pre = 0
        self.out = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div":
            is_body = a.get("role") == "main" or "body" in (a.get("class") or "").split()
            self.div_stack.append(is_body)
            if is_body:
                self.depth_body += 1
        if tag in self.SKIP:
            self.skip += 1
        if tag == "a" and "headerlink" in (a.get("class") or ""):
            self.skip += 1
            self.div_stack.append("headerlink")
        if tag == "pre":
            self.pre += 1
        if tag in self.BLOCK and self.depth_body:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if tag == "div" and self.div_stack:
            while self.div_stack and self.div_stack[-1] == "headerlink":
                self.div_stack.pop()
            if self.div_stack and self.div_stack.pop() is True:
                self.depth_body -= 1
        if tag in self.SKIP:
            self.skip -= 1
        if tag == "a" and self.div_stack and self.div_stack[-1] == "headerlink":
            self.div_stack.pop()
            self.skip -= 1
        if tag == "pre":
            self.pre -= 1
        if tag in self.BLOCK and self.depth_body:
            self.out.append("\n\n")

    def handle_data(self, data):
        if not self.depth_body or self.skip:
            return
        if self.pre:
            self.out.append(data)
        else:
            self.out.append(re.sub(r"\s+", " ", data))

    def text(self):
        t = "".join(self.out)
        t = "\n".join(line.strip() if not line.startswith("    ") else line.rstrip() for line in t.split("\n"))
        t = re.sub(r"\n{3,}", "\n\n", t)
        return t.strip()


def read_prose(root="/usr/share/doc/python3/html"):
    docs = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        if rel.startswith(("_static", "_sources", "_images", "whatsnew/changelog")):
            dirs.clear()
            continue
        for fn in sorted(files):
            if not fn.endswith(".html") or fn in ("genindex.html", "search.html", "py-modindex.html") \
                    or fn.startswith("genindex-") or fn == "changelog.html":
                continue
            with open(os.path.join(d, fn), encoding="utf-8", errors="replace") as f:
                p = _HtmlText()
                p.feed(f.read())
                t = p.text()
                if len(t) > 500:
                    docs.append(t)
    return docs


# ---------------------------------------------------------------------------------------------------------

def split_domain(docs, eval_chars=EVAL_CHARS, calib_chars=CALIB_CHARS):
    seen, uniq, dup, special = set(), [], 0, 0
    for d in docs:
        d = clean(d)
        if not d:
            continue
        if any(s in d for s in SPECIAL_TEXT):
            special += 1
            continue
        k = norm_key(d)
        if k in seen:
            dup += 1
            continue
        seen.add(k)
        uniq.append((hashlib.sha256(d.encode("utf-8")).hexdigest(), d))
    uniq.sort()
    ev, ca, tr = [], [], []
    ne = nc = nt = 0
    for _, d in uniq:
        if len(d) <= MAX_HELDOUT_CHARS and ne < eval_chars:
            ev.append(d)
            ne += len(d) + 2
        elif len(d) <= MAX_HELDOUT_CHARS and nc < calib_chars:
            ca.append(d)
            nc += len(d) + 2
        elif nt < TRAIN_CHARS:
            tr.append(d)
            nt += len(d) + 2
    return {"train": tr, "calib": ca, "eval": ev}, {"documents": len(docs), "duplicates_dropped": dup,
                                                     "special_text_dropped": special, "unique": len(uniq)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="the shared data folder (text/tinystories/sample.txt)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--linux-tar", default="/usr/src/linux-source-6.1.tar.xz")
    args = ap.parse_args()

    domains = [
        ("stories", lambda: read_stories(args.data), {
            "source": "shared data text/tinystories/sample.txt (TinyStories, Eldan & Li; see the shared data README)",
            "package": None, "version": None, "licence": "CDLA-Sharing-1.0"}),
        ("python", read_python, {
            "source": "Python 3.11 standard library sources, /usr/lib/python3.11/**/*.py (no site/dist-packages)",
            "package": "libpython3.11-minimal, libpython3.11-stdlib",
            "version": dpkg_version("libpython3.11-stdlib"), "licence": "PSF-2.0 (Python Software Foundation License)"}),
        ("c", lambda: read_c(args.linux_tar), {
            "source": "Linux kernel C sources (*.c, *.h) under " + ", ".join(LINUX_DIRS) + " of "
                      + os.path.basename(args.linux_tar),
            "package": "linux-source-6.1", "version": dpkg_version("linux-source-6.1"),
            "licence": "GPL-2.0-only (per-file SPDX tags; a few files dual-licensed)"}),
        ("prose", read_prose, {
            "source": "Python 3.11 documentation, /usr/share/doc/python3/html/**/*.html, main body text "
                      "(rendered to plain text by corpus.py; index pages and changelog left out)",
            "package": "python3-doc", "version": dpkg_version("python3-doc"),
            "licence": "PSF-2.0 (documentation under the Python Software Foundation License)"}),
    ]
    manifest = {"eval_chars": EVAL_CHARS, "calib_chars": CALIB_CHARS, "train_chars": TRAIN_CHARS,
                "max_heldout_chars": MAX_HELDOUT_CHARS,
                "stories_heldout_chars": STORIES_HELDOUT_CHARS, "max_doc_chars": MAX_DOC_CHARS, "domains": {}}
    for name, reader, meta in domains:
        # TinyStories: the shared sample has only ~300 KB, so its held-out splits are smaller
        held = STORIES_HELDOUT_CHARS if name == "stories" else None
        splits, stats = split_domain(reader(), *((held, held) if held else ()))
        info = dict(meta, **stats, splits={})
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
        for split, docs in splits.items():
            text = "\n\n".join(docs) + "\n"
            path = os.path.join(args.out, name, split + ".txt")
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            b = text.encode("utf-8")
            info["splits"][split] = {"documents": len(docs), "characters": len(text), "bytes": len(b),
                                     "sha256": hashlib.sha256(b).hexdigest()}
        manifest["domains"][name] = info
        print(name, json.dumps(info["splits"]), flush=True)
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
