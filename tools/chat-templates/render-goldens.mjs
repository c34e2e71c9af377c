// Renders the chat-template goldens with @huggingface/jinja, the reference the C# renderer must match byte for byte.
// Tool time only (the tests never run Node): `npm install --no-package-lock && node render-goldens.mjs`.
// Reads sources.json (which templates), the shared tokenizers and the installed packages; writes under
// tests/Copal.Model.Tests/ChatTemplates/Data: templates/<name>/tokenizer_config.json (package templates, reduced to the
// chat_template and special-token fields, copied verbatim), goldens/<name>.jsonl and PROVENANCE.md.
import { Template } from "@huggingface/jinja";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const shared = process.env.COPAL_SHARED_DATA ?? path.resolve(repo, "..", "shared", "data");
const data = path.join(repo, "tests", "Copal.Model.Tests", "ChatTemplates", "Data");
const modules = path.join(here, "node_modules");

// The special-token attributes transformers.js passes to the template (tokenization_utils.js, SPECIAL_TOKEN_ATTRIBUTES).
const SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

const sources = JSON.parse(fs.readFileSync(path.join(here, "sources.json"), "utf8")).templates;
const conversations = JSON.parse(fs.readFileSync(path.join(data, "conversations.json"), "utf8"));

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const pkgInfo = (name) => JSON.parse(fs.readFileSync(path.join(modules, name, "package.json"), "utf8"));

function ollamaMapping() {
  const file = path.join(modules, "@huggingface/ollama-utils/dist/index.js");
  const src = fs.readFileSync(file, "utf8");
  const marker = "var OLLAMA_CHAT_TEMPLATE_MAPPING = ";
  const start = src.indexOf(marker);
  const end = src.indexOf("\n];", start);
  if (start < 0 || end < 0) throw new Error(`${file}: mapping table not found`);
  return { file, table: vm.runInNewContext(src.slice(start + marker.length, end + 3)) };
}

// transformers.js getTokenFromConfig: a string, or an AddedToken object's content; falsy values are skipped.
function tokenFromConfig(config, key) {
  const item = config[key];
  if (!item) return null;
  if (typeof item === "object") {
    if (item.__type === "AddedToken") return item.content;
    throw new Error(`Unknown token: ${key}`);
  }
  return item;
}

function render(config, c, addGenerationPrompt) {
  const template = config.chat_template;
  const special = {};
  for (const key of SPECIAL_TOKENS) {
    const value = tokenFromConfig(config, key);
    if (value) special[key] = value;
  }
  const tools = c.tools ? conversations.tools[c.tools] : null;
  // The same variables, in the same order, as transformers.js apply_chat_template.
  const items = { messages: structuredClone(c.messages), add_generation_prompt: addGenerationPrompt, tools, documents: null, ...special, ...(c.extra ?? {}) };
  try {
    return { output: new Template(template).render(items) };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

const mapping = ollamaMapping();
const provenance = [];
fs.mkdirSync(path.join(data, "goldens"), { recursive: true });
for (const s of sources) {
  let config;
  let origin;
  if (s.kind === "shared") {
    const file = path.join(shared, "tokenizers", s.dir, "tokenizer_config.json");
    const bytes = fs.readFileSync(file);
    config = JSON.parse(bytes.toString("utf8"));
    origin = `shared/data/tokenizers/${s.dir}/tokenizer_config.json (sha256 ${sha256(bytes)}; see shared/data/README.md for its package)`;
  } else {
    let full;
    if (s.kind === "tokenizer_config") {
      const file = path.join(modules, s.package, s.path);
      const bytes = fs.readFileSync(file);
      full = JSON.parse(bytes.toString("utf8"));
      const p = pkgInfo(s.package);
      origin = `npm \`${p.name}\` ${p.version} (licence ${p.license}), file \`${s.path}\` (sha256 ${sha256(bytes)}); chat_template and special-token fields copied verbatim`;
    } else if (s.kind === "ollama-utils") {
      const entry = mapping.table.find((e) => e.model === s.model);
      if (!entry) throw new Error(`ollama-utils: no entry ${s.model}`);
      const p = pkgInfo("@huggingface/ollama-utils");
      full = { ...s.tokens, chat_template: entry.gguf };
      origin = `npm \`${p.name}\` ${p.version} (licence ${p.license}), \`dist/index.js\`, OLLAMA_CHAT_TEMPLATE_MAPPING entry \`${s.model}\`, field \`gguf\` (the model's Hugging Face chat_template as stored in its GGUF); ${Object.keys(s.tokens).length ? `special tokens ${JSON.stringify(s.tokens)} written by us from the model's published tokenizer_config.json` : "no special tokens (the template uses none)"}`;
    } else {
      throw new Error(`unknown kind ${s.kind}`);
    }
    config = {};
    for (const [k, v] of Object.entries(full)) {
      if (k === "chat_template" || SPECIAL_TOKENS.includes(k)) config[k] = v;
    }
    const dir = path.join(data, "templates", s.name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n");
  }
  const lines = [];
  let errors = 0;
  for (const c of conversations.cases) {
    for (const agp of [false, true]) {
      const r = render(config, c, agp);
      if (r.error !== undefined) errors++;
      lines.push(JSON.stringify({ case: c.id, add_generation_prompt: agp, ...r }));
    }
  }
  fs.writeFileSync(path.join(data, "goldens", `${s.name}.jsonl`), lines.join("\n") + "\n");
  const sha = sha256(Buffer.from(config.chat_template, "utf8"));
  provenance.push(`| ${s.name} | ${origin} | ${sha.slice(0, 16)} | ${lines.length - errors} / ${errors} |`);
  console.log(`${s.name}: ${lines.length} goldens, ${errors} reference errors`);
}

const jinja = pkgInfo("@huggingface/jinja");
fs.writeFileSync(path.join(data, "PROVENANCE.md"), `# Chat-template goldens: provenance

Made by \`tools/chat-templates/render-goldens.mjs\` with npm \`${jinja.name}\` ${jinja.version} (licence ${jinja.license}),
the Jinja implementation transformers.js uses in \`apply_chat_template\`. The variables given to each template are
those of transformers.js: \`messages\`, \`add_generation_prompt\`, \`tools\` (null when a case has none), \`documents\`
(null), the special tokens bos/eos/unk/sep/pad/cls/mask that the config sets, then the case's \`extra\`.
Inputs: \`conversations.json\`. Each golden line is \`{case, add_generation_prompt, output}\`, or \`{case,
add_generation_prompt, error}\` where the reference itself refuses (a \`raise_exception\` or an unsupported filter).

The templates are small text from tokenizer files, not model weights. The shared ones are read from the shared data
folder by the tests; the others are stored in \`templates/<name>/tokenizer_config.json\`.

| template | source | sha256 of chat_template (first 16 hex) | goldens rendered / refused by the reference |
|---|---|---|---|
${provenance.join("\n")}
`);
