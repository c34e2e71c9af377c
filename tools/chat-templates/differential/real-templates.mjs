// Writes, as one JSON list on stdout, the distinct chat templates of @huggingface/ollama-utils' mapping table
// ({"model", "template"}), the templates sweep.mjs renders. Tool time only.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = fs.readFileSync(path.join(here, "../node_modules/@huggingface/ollama-utils/dist/index.js"), "utf8");
const marker = "var OLLAMA_CHAT_TEMPLATE_MAPPING = ";
const start = src.indexOf(marker);
const table = vm.runInNewContext(src.slice(start + marker.length, src.indexOf("\n];", start) + 3));
const seen = new Set();
const out = [];
for (const e of table) {
  if (e.gguf && !seen.has(e.gguf)) {
    seen.add(e.gguf);
    out.push({ model: e.model, template: e.gguf });
  }
}
process.stdout.write(JSON.stringify(out));
