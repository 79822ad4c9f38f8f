/**
 * Writes spec/header.schema.json from the zod schema in src/schema.ts, the only place the header's
 * shape is defined. With `--check`, writes nothing and fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { strictHeaderSchema } from "../src/schema.js";

const target = fileURLToPath(new URL("../spec/header.schema.json", import.meta.url));
const schema = { $id: "urn:ndpack:spec:header:1.0", ...z.toJSONSchema(strictHeaderSchema) };
const text = `${JSON.stringify(schema, null, 2)}\n`;

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(target, "utf8");
  } catch {
    // a missing file is stale too
  }
  if (committed !== text) {
    console.error("spec/header.schema.json is stale: run `npm run schema` and commit the result");
    process.exit(1);
  }
  console.log("spec/header.schema.json is up to date");
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
