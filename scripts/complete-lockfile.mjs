// Completes package-lock.json after `npm install`, so that `npm ci` accepts it.
//
// Why: npm 11 leaves out of the lock file the platform-specific optional packages that its registry
// cannot resolve (npm/cli#9342: the registry these machines use does not carry every platform
// build of rollup, cbor-extract and msgpackr-extract), and `npm ci` then refuses the lock file
// ("Missing: @rollup/rollup-darwin-arm64@ from lock file"). This adds an entry for each optional
// dependency that has none, with the version its parent pins and the os/cpu its name states, so
// that npm ci skips the ones for other platforms. Run it after any `npm install` that changes
// dependencies: `node scripts/complete-lockfile.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const OSES = ["android", "darwin", "freebsd", "openbsd", "openharmony", "linux", "win32"];
const CPUS = ["arm64", "x64", "ia32", "arm", "loong64", "ppc64", "riscv64", "s390x"];

/** The os and cpu a platform package's name states (`@rollup/rollup-linux-arm64-musl`: linux, arm64). */
function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  return { os: OSES.find((os) => parts.includes(os)), cpu: CPUS.find((cpu) => parts.includes(cpu)) };
}

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const packages = lock.packages;
let added = 0;
for (const [at, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    if (packages[`node_modules/${name}`] || packages[`${at}/node_modules/${name}`]) continue;
    const { os, cpu } = platformOf(name);
    packages[`node_modules/${name}`] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...(os ? { os: [os] } : {}),
      ...(cpu ? { cpu: [cpu] } : {}),
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: added ${added} optional platform entries`);
