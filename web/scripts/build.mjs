// Bundles the console into dist/: console.js and console.css (esbuild, minified) and
// index.html (copied). The output depends only on the sources and the locked packages:
// no timestamps, no source maps, no absolute paths, so a rebuild is byte-identical.
import { build } from "esbuild";
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

await mkdir(dist, { recursive: true });
for (const name of await readdir(dist)) {
  if (!["index.html", "console.js", "console.css"].includes(name)) await rm(join(dist, name), { recursive: true });
}

const result = await build({
  absWorkingDir: root,
  entryPoints: { console: "src/main.ts" },
  outdir: "dist",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  charset: "utf8",
  metafile: true,
  logLevel: "warning",
});
await copyFile(join(root, "src/index.html"), join(dist, "index.html"));

for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  console.log(`${file.padEnd(20)} ${(bytes / 1024).toFixed(1)} KiB`);
}
