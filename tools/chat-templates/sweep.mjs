// A wider check than the committed goldens: every chat template in @huggingface/ollama-utils' mapping table (about a
// hundred real models' Hugging Face templates) rendered by @huggingface/jinja over the golden conversations, written
// as JSON lines to the file given (keep it outside the repository: it is several MB). The test
// Copal.Model.Tests.ChatTemplates.SweepTests compares the C# renderer with it when COPAL_CHAT_TEMPLATE_SWEEP names
// the file; without it the test is reported as skipped. Tool time only.
//   node sweep.mjs /tmp/chat-template-sweep.jsonl
import { Template } from "@huggingface/jinja";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.argv[2];
if (!target) {
  console.error("usage: node sweep.mjs OUTPUT.jsonl");
  process.exit(2);
}
const src = fs.readFileSync(path.join(here, "node_modules/@huggingface/ollama-utils/dist/index.js"), "utf8");
const marker = "var OLLAMA_CHAT_TEMPLATE_MAPPING = ";
const start = src.indexOf(marker);
const table = vm.runInNewContext(src.slice(start + marker.length, src.indexOf("\n];", start) + 3));
const conversations = JSON.parse(fs.readFileSync(path.join(here, "../../tests/Copal.Model.Tests/ChatTemplates/Data/conversations.json"), "utf8"));
const tokens = { bos_token: "<s>", eos_token: "</s>" };
const lines = [];
for (const entry of table) {
  if (!entry.gguf) continue;
  for (const c of conversations.cases) {
    for (const agp of [false, true]) {
      const items = { messages: structuredClone(c.messages), add_generation_prompt: agp, tools: c.tools ? conversations.tools[c.tools] : null, documents: null, ...tokens, ...(c.extra ?? {}) };
      let r;
      try {
        r = { output: new Template(entry.gguf).render(items) };
      } catch (e) {
        r = { error: String(e.message ?? e) };
      }
      lines.push(JSON.stringify({ model: entry.model, template: entry.gguf, tokens, case: c.id, add_generation_prompt: agp, ...r }));
    }
  }
}
fs.writeFileSync(target, lines.join("\n") + "\n");
console.log(`${lines.length} renders of ${new Set(lines.map((l) => JSON.parse(l).model)).size} templates written to ${target}`);
