// Renders JSON lines {"t": template, "v": {variables}} from stdin with @huggingface/jinja (the goldens' reference)
// and writes {"ok": text} or {"err": message} per line. Tool time only; needs `npm install --no-package-lock` in tools/chat-templates.
import { Template } from "@huggingface/jinja";
import readline from "node:readline";

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  const c = JSON.parse(line);
  let r;
  try {
    r = { ok: new Template(c.t).render(structuredClone(c.v)) };
  } catch (e) {
    r = { err: String(e?.message ?? e) };
  }
  process.stdout.write(JSON.stringify(r) + "\n");
}
