/**
 * FORMAT.md §9 step 8: the header's structure, checked against `spec/header.schema.json`, which
 * `scripts/generate-schema.ts` derives from the zod schema of src/schema.ts, in the copy it writes
 * without the keywords that constrain nothing (src/header-structure.json: no descriptions for a
 * browser to download).
 * Readers interpret that generated file instead of running zod, so the library loads no validation library (zod's build
 * is most of a browser bundle and most of Node's import time), and the header's shape is still
 * written once. The interpreter knows the few keywords the generated file uses
 * ({@link UNDERSTOOD_KEYWORDS}); test/schema.test.ts fails when the file uses any other, so a
 * schema change it cannot follow is caught before it ships, and checks that it reports the same
 * first problem as zod on generated headers.
 *
 * @module
 */
import headerJsonSchema from "./header-structure.json";

/** The first thing wrong with a header, in the order zod reports it: fields in schema order, then unknown keys. */
export interface StructureIssue {
  /** Keys and indices from the header's root to the offending value. */
  readonly path: (string | number)[];
  /** `"enum"`: a value of the right JSON type that is not one of the allowed ones. */
  readonly kind: "type" | "enum" | "range" | "unknown-keys";
  /** What was expected, in words, or the unknown keys. */
  readonly message: string;
}

/** Returns the first problem of `value` at and below this schema node, or undefined. */
type Check = (value: unknown, lenient: boolean) => StructureIssue | undefined;

interface SchemaNode {
  readonly type?: "object" | "array" | "string" | "integer" | "number";
  readonly properties?: Record<string, SchemaNode>;
  readonly required?: readonly string[];
  readonly additionalProperties?: false | Record<string, never>;
  readonly items?: SchemaNode;
  readonly enum?: readonly unknown[];
  readonly minLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
}

/**
 * The JSON Schema keywords {@link compile} interprets. Checked by test/schema.test.ts against every
 * node of src/header-structure.json, not when this module loads: the check would cost every
 * browser bundle its bytes to catch what CI catches.
 */
export const UNDERSTOOD_KEYWORDS: readonly string[] = ["type", "properties", "required", "additionalProperties", "items", "enum", "minLength", "minimum", "maximum"];

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

const TYPE_TESTS: Record<NonNullable<SchemaNode["type"]>, (value: unknown) => boolean> = {
  object: isObject,
  array: Array.isArray,
  string: (value) => typeof value === "string",
  integer: Number.isInteger,
  number: Number.isFinite,
};

const issue = (kind: StructureIssue["kind"], message: string): StructureIssue => ({ path: [], kind, message });

/** Puts `key` in front of a child's issue path (issues are rare, so paths are built only for them). */
function under(key: string | number, found: StructureIssue | undefined): StructureIssue | undefined {
  found?.path.unshift(key);
  return found;
}

function compile(node: SchemaNode): Check {
  const checks: Check[] = [];
  const { type } = node;
  if (type !== undefined) {
    const test = TYPE_TESTS[type];
    const expected = `expected ${type === "integer" ? "an integer" : type === "array" || type === "object" ? `an ${type}` : `a ${type}`}`;
    checks.push((value) => (test(value) ? undefined : issue("type", expected)));
  }
  if (node.enum !== undefined) {
    const allowed = new Set(node.enum);
    const expected = `expected one of ${node.enum.map((v) => JSON.stringify(v)).join(", ")}`;
    checks.push((value) => (allowed.has(value) ? undefined : issue("enum", expected)));
  }
  const { minimum = -Infinity, maximum = Infinity, minLength = 0 } = node;
  if (node.minimum !== undefined || node.maximum !== undefined) {
    const expected = `expected a value from ${minimum} to ${maximum}`;
    checks.push((value) => ((value as number) >= minimum && (value as number) <= maximum ? undefined : issue("range", expected)));
  }
  if (node.minLength !== undefined) {
    const expected = `expected at least ${minLength} character${minLength === 1 ? "" : "s"}`;
    checks.push((value) => ((value as string).length >= minLength ? undefined : issue("range", expected)));
  }
  if (node.items !== undefined) {
    const item = compile(node.items);
    checks.push((value, lenient) => {
      const items = value as unknown[];
      for (let i = 0; i < items.length; i++) {
        const found = item(items[i], lenient);
        if (found) return under(i, found);
      }
      return undefined;
    });
  }
  if (node.properties !== undefined) {
    const required = new Set(node.required ?? []);
    const fields = Object.entries(node.properties).map(([key, child]) => ({ key, check: compile(child), required: required.has(key) }));
    const known = new Set(fields.map((field) => field.key));
    const closed = node.additionalProperties === false;
    checks.push((value, lenient) => {
      const object = value as Record<string, unknown>;
      for (const { key, check, required } of fields) {
        if (!Object.hasOwn(object, key)) {
          if (required) return under(key, issue("type", "required"));
          continue;
        }
        const found = check(object[key], lenient);
        if (found) return under(key, found);
      }
      if (!closed || lenient) return undefined;
      const unknown = Object.keys(object).filter((key) => !known.has(key));
      return unknown.length > 0 ? issue("unknown-keys", unknown.map((key) => JSON.stringify(key)).join(", ")) : undefined;
    });
  }
  return (value, lenient) => {
    for (const check of checks) {
      const found = check(value, lenient);
      if (found) return found;
    }
    return undefined;
  };
}

const checkHeader = compile(headerJsonSchema as SchemaNode);

/**
 * The first structural problem of a parsed header, or undefined when it has the shape of
 * FORMAT.md §2.2. `lenient` (a file of a newer minor version, §2.3) lets objects carry unknown keys.
 */
export function headerStructureIssue(value: unknown, lenient: boolean): StructureIssue | undefined {
  return checkHeader(value, lenient);
}

