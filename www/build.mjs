// Assembles the static sandbox in www/dist: the page, and the web build of the npm package
// `behalf` (bindings-js, built before this runs) copied beside it, wired in by an import map.
// The result needs nothing but a static file server, and no network.
//
// node www/build.mjs [--out DIR]

import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const pkgDir = join(root, "bindings-js");
const outArg = process.argv.indexOf("--out");
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(here, "dist");

function fail(message) {
  console.error(`www build: ${message}`);
  process.exit(1);
}

/** The file the package's `./web` export points at (ESM, browser). */
function webEntry(pkg) {
  const exp = pkg.exports?.["./web"];
  const pick = (e) => {
    if (typeof e === "string") return e;
    if (e && typeof e === "object") {
      for (const k of ["browser", "import", "module", "default"]) {
        const v = pick(e[k]);
        if (v) return v;
      }
    }
    return null;
  };
  return pick(exp);
}

const manifestPath = join(pkgDir, "package.json");
if (!existsSync(manifestPath)) fail("bindings-js/package.json is missing: the npm package is not there yet");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const entry = webEntry(manifest);
if (!entry) fail("bindings-js/package.json has no `./web` export");
if (!existsSync(join(pkgDir, entry))) {
  fail(`the web build is missing (${relative(root, join(pkgDir, entry))}); build bindings-js first`);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// The package: what it publishes ("files", else the directory of its web entry), never its
// sources, tests or dependencies.
const vendor = join(out, "vendor", "behalf");
const published = manifest.files ?? [entry.replace(/^\.\//, "").split("/")[0]];
const skip = /(^|\/)(node_modules|target|tests?|\.git)(\/|$)|\.(rs|toml|d\.ts|d\.mts|d\.cts|map|tsbuildinfo|cjs)$|(^|\/)node(\/|$)|^pkg\/index\.mjs$/;
// (The Node builds are skipped: a browser never loads them.)
for (const item of published) {
  const from = join(pkgDir, item);
  if (!existsSync(from)) continue;
  cpSync(from, join(vendor, item), {
    recursive: true,
    filter: (src) => {
      const rel = relative(pkgDir, src).split("\\").join("/");
      return rel === "" || !skip.test(rel);
    },
  });
}
writeFileSync(join(vendor, "package.json"), JSON.stringify({ name: manifest.name, version: manifest.version, type: manifest.type }, null, 2));
const entryOut = join(vendor, entry);
if (!existsSync(entryOut)) fail(`the web entry ${entry} was not copied (check the package's "files")`);

// The page.
for (const item of ["style.css", "favicon.svg", "src"]) cpSync(join(here, item), join(out, item), { recursive: true });
const importMap = {
  imports: {
    "behalf/web": `./${relative(out, entryOut).split("\\").join("/")}`,
    "behalf/": "./vendor/behalf/",
  },
};
const html = readFileSync(join(here, "index.html"), "utf8").replace(
  "<!--IMPORTMAP-->",
  `<meta name="behalf-version" content="${manifest.version ?? ""}">\n<script type="importmap">${JSON.stringify(importMap)}</script>`,
);
writeFileSync(join(out, "index.html"), html);

console.log(`www build: ${relative(root, out)} ready (behalf ${manifest.version ?? "?"}, web entry ${entry})`);
