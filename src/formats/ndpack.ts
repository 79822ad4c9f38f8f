/**
 * ndpack in the format table: the header reader is FORMAT.md §9 steps 1–21 as written once in
 * `header.ts` ({@link readLayoutSteps}); an array is its record, checked by step 22 as written
 * once in `decode.ts` ({@link checkRecord}), then viewed or copied as `decode` does. The writer
 * is the plan of `ndpack-write.ts` ({@link planNdpackWrite}).
 *
 * @module
 */
import { checkRecord, checkRecordTail, materialize, arrayInfo, type ArrayInfo } from "../decode.js";
import { encode, type ArraysInput } from "../encode.js";
import { MAGIC } from "../format.js";
import { readLayoutSteps, resolveLimits, type FileLayout } from "../header.js";
import type { RangeSteps } from "../io/steps.js";
import { planNdpackWrite } from "./ndpack-write.js";
import type { ArrayPlan } from "./write.js";
import type { Container, ContainerOptions, FileFormat, FormatReader } from "./types.js";

/** The {@link Container} of an ndpack file whose layout has been read and checked. */
export function ndpackContainer(layout: FileLayout): Container {
  const { header } = layout;
  // The layout's flat lists answer for names and positions; an object per array is made only when
  // `arrays` is asked for (`info`), so that reading one array of 100,000 makes a few objects.
  let arrays: readonly ArrayInfo[] | undefined;
  return {
    format: "ndpack",
    version: layout.version,
    alignment: header.alignment,
    checksum: header.checksum,
    metadata: header.metadata,
    get arrays() {
      return (arrays ??= layout.entries.map(arrayInfo));
    },
    names: layout,
    fileLength: layout.fileLength,
    ignored: [],
    arrayRange(index, verify) {
      const entry = layout.entry(index);
      return { offset: entry.start, length: verify ? layout.recordEnd(entry.index) - entry.start : entry.byteLength };
    },
    toArray(index, bytes, options) {
      const entry = layout.entry(index);
      if (options.verify) checkRecord(layout, entry, bytes);
      return materialize(entry, bytes, entry.start, options.copy, options);
    },
    rawPayload(index) {
      return layout.entry(index).codec === "none" ? this.storedRecord!(index) : undefined;
    },
    storedRecord(index) {
      const entry = layout.entry(index);
      const end = entry.start + entry.byteLength;
      return {
        before: undefined,
        payload: { offset: entry.start, length: entry.byteLength },
        after: { offset: end, length: layout.recordEnd(entry.index) - end },
        checked: true,
        check: (crc, after) => checkRecordTail(layout, entry, crc, after),
      };
    },
    deflatedMember: () => undefined,
  };
}

function* readNdpackContainer(size: number, options: ContainerOptions): RangeSteps<Container> {
  return ndpackContainer(yield* readLayoutSteps(size, resolveLimits(options), options.firstReadBytes));
}

/** The reading part of ndpack's row: what the lazy readers of `ndpack/source` take, so that their bundles carry no writer. */
export const NDPACK_READER: FormatReader = {
  name: "ndpack",
  label: "ndpack",
  extensions: [".ndp", ".ndpack"],
  sniff: (head) => MAGIC.every((byte, i) => head[i] === byte),
  readContainer: readNdpackContainer,
};

/** ndpack's row of the format table. */
// Marked pure (a spread is not, to a bundler), so that a bundle which never names this row drops it and its writer.
export const NDPACK_FORMAT: FileFormat = /* @__PURE__ */ Object.assign({}, NDPACK_READER, {
  write: (arrays: ArraysInput, options?: Readonly<Record<string, unknown>>) => encode(arrays, options),
  planWrite: (arrays: readonly ArrayPlan[], options?: Readonly<Record<string, unknown>>) => planNdpackWrite(arrays, options),
});
