/**
 * Writes spec/header.schema.json from the zod schema in src/schema.ts, the only place the header's
 * shape is defined, and src/header-structure.json, the same schema without the keywords that
 * constrain nothing (the annotations `$id`, `$schema`, `title`, `description`, and `propertyNames`,
 * which JSON's string keys always meet), which is what src/structure.ts interprets: a web page's
 * bundle then carries no prose it never shows. With
 * `--check`, writes nothing and fails when a committed file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { strictHeaderSchema } from "../src/schema.js";

const NOT_CONSTRAINING = new Set(["$id", "$schema", "title", "description", "propertyNames"]);

/** `node` without the keywords that constrain nothing, at every depth. */
function constraintsOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(constraintsOf);
  if (typeof node !== "object" || node === null) return node;
  return Object.fromEntries(Object.entries(node).filter(([key]) => !NOT_CONSTRAINING.has(key)).map(([key, value]) => [key, constraintsOf(value)]));
}

const schema = { $id: "urn:ndpack:spec:header:1.0", ...z.toJSONSchema(strictHeaderSchema) };
const outputs = [
  { path: "spec/header.schema.json", text: `${JSON.stringify(schema, null, 2)}\n` },
  { path: "src/header-structure.json", text: `${JSON.stringify(constraintsOf(schema), null, 2)}\n` },
];

let stale = false;
for (const { path, text } of outputs) {
  const target = fileURLToPath(new URL(`../${path}`, import.meta.url));
  if (process.argv.includes("--check")) {
    let committed = "";
    try {
      committed = readFileSync(target, "utf8");
    } catch {
      // a missing file is stale too
    }
    if (committed !== text) {
      console.error(`${path} is stale: run \`npm run schema\` and commit the result`);
      stale = true;
    } else {
      console.log(`${path} is up to date`);
    }
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
if (stale) process.exit(1);
