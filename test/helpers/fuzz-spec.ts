/**
 * FORMAT.md §9 as data, read from the spec itself at run time: the numbered checks and the codes
 * each one gives. The fuzz campaign uses it to know which codes a hostile input may end in, and to
 * prove that it reached every check.
 */
import { readFileSync } from "node:fs";
import { ERROR_CODES, type ErrorCode, type NdpackError } from "../../src/errors.js";
import { PREAMBLE, PREAMBLE_SIZE } from "../../src/format.js";

/** One numbered check of FORMAT.md §9. */
export interface ValidationStep {
  readonly step: number;
  /** The codes the step's text names, in order of appearance. */
  readonly codes: readonly ErrorCode[];
  /** True for steps 22 and 23 (when an array is read): `decode` alone never runs them. */
  readonly atRead: boolean;
}

const FORMAT_PATH = new URL("../../FORMAT.md", import.meta.url);

/** The numbered list of FORMAT.md §9, up to its first subsection or the next section. */
export function readValidationSteps(text = readFileSync(FORMAT_PATH, "utf8")): ValidationStep[] {
  const start = text.indexOf("\n## 9.");
  if (start < 0) throw new Error("FORMAT.md has no section 9");
  const rest = text.slice(start + 1);
  const end = rest.search(/\n##+ /);
  const lines = (end < 0 ? rest : rest.slice(0, end)).split("\n");
  const known = new Set<string>(ERROR_CODES);
  const steps: { step: number; text: string; atRead: boolean }[] = [];
  let atRead = false;
  for (const line of lines) {
    if (line.startsWith("**When an array is read**")) atRead = true;
    const numbered = /^(\d+)\. /.exec(line);
    if (numbered) steps.push({ step: Number(numbered[1]), text: line, atRead });
    else if (line.startsWith("   ") && steps.length > 0) steps[steps.length - 1]!.text += ` ${line.trim()}`;
  }
  return steps.map(({ step, text: body, atRead: read }) => {
    const codes: ErrorCode[] = [];
    for (const match of body.matchAll(/`([A-Z][A-Z_]+)`/g)) {
      const code = match[1]!;
      if (known.has(code) && !codes.includes(code as ErrorCode)) codes.push(code as ErrorCode);
    }
    return { step, codes, atRead: read };
  });
}

/** `"step:CODE"` for every code of every step of §9: what a campaign must reach. */
export function stepCodeKeys(steps: readonly ValidationStep[]): string[] {
  return steps.flatMap((s) => s.codes.map((code) => `${s.step}:${code}`));
}

const LIMIT_STEP: Readonly<Record<string, number>> = { maxDepth: 7, maxArrays: 9, maxNameBytes: 10, maxDims: 12, maxDecodedBytes: 23 };

/**
 * Which §9 step raised `error`, from its code and structured fields (never from its message).
 * `phase` says where it was raised: `decode` runs steps 1–21, `read` (get, iteration) step 23 and
 * `verify` (per array) step 22. Returns `undefined` when the fields do not say.
 */
export function stepOf(error: NdpackError, phase: "decode" | "read" | "verify", input: Uint8Array): number | undefined {
  switch (error.code) {
    case "BAD_MAGIC":
      return 1;
    case "UNSUPPORTED_VERSION":
      return 3;
    case "HEADER_TOO_LARGE":
      return 4;
    case "HEADER_CHECKSUM":
      return 6;
    case "TRUNCATED": {
      if (error.expected === PREAMBLE_SIZE) return 2;
      const claimed = input.length >= PREAMBLE_SIZE ? new DataView(input.buffer, input.byteOffset).getUint32(PREAMBLE.headerLength, true) : -1;
      return error.expected === PREAMBLE_SIZE + claimed ? 5 : 20;
    }
    // The JSON parser reports a character offset (and the UTF-8 check the header's start); the
    // structure check reports only a field.
    case "HEADER_INVALID":
      return error.offset !== undefined ? 7 : 8;
    case "DUPLICATE_KEY":
    case "BAD_NUMBER":
      return 7;
    case "UNKNOWN_DTYPE":
    case "UNSUPPORTED_CODEC":
    case "UNSUPPORTED_CHECKSUM":
      return 8;
    case "LIMIT_EXCEEDED":
      return error.limit === undefined ? undefined : LIMIT_STEP[error.limit];
    case "DUPLICATE_NAME":
      return 11;
    case "BAD_SHAPE":
      return 13;
    case "SIZE_MISMATCH":
      return 14;
    case "MISALIGNED":
      return 15;
    case "OVERLAP":
      return 16;
    case "GAP":
      return error.field === "dataLength" ? 19 : 17;
    case "OUT_OF_BOUNDS":
      return 18;
    case "TRAILING_BYTES":
      return 20;
    case "BAD_PADDING":
      return phase === "verify" ? 22 : 21;
    case "CHECKSUM":
      return 22;
    case "CODEC_ERROR":
      return 23;
    default:
      return undefined;
  }
}
