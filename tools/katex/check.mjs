// Render LaTeX with KaTeX as a strict consumer would: every error, and every strict-mode warning,
// is a failure. Reads a JSON array of {"tex": "...", "display": true|false} on stdin and writes a
// JSON array of {"ok": true} or {"ok": false, "error": "..."} on stdout, in the same order.
import katex from "katex";
import { readFileSync } from "node:fs";

const items = JSON.parse(readFileSync(0, "utf8"));
const results = items.map(({ tex, display }) => {
  const warnings = [];
  try {
    katex.renderToString(tex, {
      displayMode: display,
      throwOnError: true,
      strict: (code, message) => {
        warnings.push(`${code}: ${message}`);
        return "ignore";
      },
    });
  } catch (error) {
    return { ok: false, error: String(error.message) };
  }
  return warnings.length ? { ok: false, error: `strict mode: ${warnings.join("; ")}` } : { ok: true };
});
process.stdout.write(JSON.stringify(results));
