import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { DTYPE_NAMES } from "../src/dtypes.js";
import { lenientHeaderSchema, strictHeaderSchema } from "../src/schema.js";
import headerStructure from "../src/header-structure.json";
import { headerStructureIssue, UNDERSTOOD_KEYWORDS, type StructureIssue } from "../src/structure.js";

// Values each field may take: mostly valid ones, plus the kinds of wrong values a hostile file holds.
const anyJson = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string(), fc.constant([]), fc.constant({}));
const size = fc.oneof({ weight: 30, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, 2 ** 53, Number.NaN) }, { weight: 1, arbitrary: anyJson });
const pick = <T>(valid: readonly T[]) => fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: fc.constantFrom("", "zstd", "None") });

/** Adds an unknown key now and then: valid in lenient mode only. */
const rarelyExtra = <T extends object>(arbitrary: fc.Arbitrary<T>) =>
  fc.tuple(arbitrary, fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: anyJson })).map(([value, extra]) => (extra === undefined ? value : { ...value, extra }));

const entry = rarelyExtra(fc.record(
  {
    name: fc.oneof({ weight: 8, arbitrary: fc.string() }, { weight: 1, arbitrary: anyJson }),
    dtype: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...DTYPE_NAMES) }, { weight: 1, arbitrary: fc.constantFrom("Float32", "float128", "") }),
    shape: fc.oneof({ weight: 8, arbitrary: fc.array(size, { maxLength: 4 }) }, { weight: 1, arbitrary: anyJson }),
    order: pick(["C", "F"]),
    byteOrder: pick(["little", "big"]),
    codec: pick(["none", "deflate", "shuffle+deflate"]),
    offset: size,
    byteLength: size,
  },
  { requiredKeys: ["name", "dtype", "shape", "order", "byteOrder", "offset", "byteLength"] },
));

const header = rarelyExtra(fc.record(
  {
    alignment: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(8, 64, 4096, 65536) }, { weight: 1, arbitrary: fc.constantFrom(4, 48, 131072) }, { weight: 1, arbitrary: anyJson }),
    checksum: pick(["crc32", "none"]),
    dataLength: size,
    metadata: fc.oneof({ weight: 8, arbitrary: fc.dictionary(fc.string(), fc.jsonValue()) }, { weight: 1, arbitrary: anyJson }),
    arrays: fc.oneof({ weight: 8, arbitrary: fc.array(entry, { maxLength: 3 }) }, { weight: 1, arbitrary: anyJson }),
  },
  { requiredKeys: ["alignment", "checksum", "dataLength", "metadata", "arrays"] },
));

/** The error a reader raises for a first issue at `path` (header.ts checkStructure): its code and field. */
function verdictOf(value: unknown, path: readonly PropertyKey[], wrongEnumValue: boolean): string {
  const last = path[path.length - 1];
  const found = path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], value);
  const named = wrongEnumValue && typeof found === "string";
  const code = named && last === "dtype" ? "UNKNOWN_DTYPE" : named && last === "codec" ? "UNSUPPORTED_CODEC" : named && last === "checksum" && path.length === 1 ? "UNSUPPORTED_CHECKSUM" : "HEADER_INVALID";
  return `${code} at ${JSON.stringify(path)}`;
}

function zodVerdict(schema: typeof strictHeaderSchema | typeof lenientHeaderSchema, value: unknown): string {
  const result = schema.safeParse(value);
  if (result.success) return "valid";
  const first = result.error.issues[0]!;
  return verdictOf(value, first.path, first.code === "invalid_value");
}

function interpreterVerdict(value: unknown, lenient: boolean): string {
  const issue: StructureIssue | undefined = headerStructureIssue(value, lenient);
  return issue === undefined ? "valid" : verdictOf(value, issue.path, issue.kind === "enum");
}

describe("the header check interpreting spec/header.schema.json agrees with the zod schema it is generated from", () => {
  test("strict (a file whose minor version the reader knows): same verdict, same first problem, same error code", () => {
    fc.assert(
      fc.property(header, (value) => {
        expect(interpreterVerdict(value, false)).toBe(zodVerdict(strictHeaderSchema, value));
      }),
      { numRuns: 5000 },
    );
  });

  test("lenient (a newer minor version): same verdict, same first problem, same error code", () => {
    fc.assert(
      fc.property(header, (value) => {
        expect(interpreterVerdict(value, true)).toBe(zodVerdict(lenientHeaderSchema, value));
      }),
      { numRuns: 5000 },
    );
  });

  test("the generator produces valid headers and every kind of error code often enough to make the comparison meaningful", () => {
    const verdicts = fc.sample(header, 4000).map((value) => zodVerdict(strictHeaderSchema, value).split(" ")[0]!);
    const count = (verdict: string) => verdicts.filter((v) => v === verdict).length;
    expect(count("valid")).toBeGreaterThan(100);
    expect(count("HEADER_INVALID")).toBeGreaterThan(100);
    for (const code of ["UNKNOWN_DTYPE", "UNSUPPORTED_CODEC", "UNSUPPORTED_CHECKSUM"]) expect(count(code), code).toBeGreaterThan(10);
  });

  test("every keyword of the generated structure is one the interpreter understands", () => {
    /** The keywords of a schema node and of the nodes below it (properties' values, items, an additionalProperties schema) that structure.ts does not interpret. */
    const notUnderstood = (node: Record<string, unknown>): string[] => [
      ...Object.keys(node).filter((key) => !UNDERSTOOD_KEYWORDS.includes(key)),
      ...Object.values((node.properties ?? {}) as Record<string, Record<string, unknown>>).flatMap(notUnderstood),
      ...[node.items, node.additionalProperties].filter((child) => typeof child === "object").flatMap((child) => notUnderstood(child as Record<string, unknown>)),
    ];
    expect(notUnderstood(headerStructure as Record<string, unknown>)).toEqual([]);
    // The walk reaches nested nodes: a keyword the interpreter would ignore is found where it sits.
    expect(notUnderstood({ type: "object", properties: { arrays: { type: "array", items: { type: "string", pattern: "x" } }, metadata: { additionalProperties: { format: "y" } } } })).toEqual(["pattern", "format"]);
  });
});
