/**
 * electron-builder for real, as far as this machine allows: the unpacked (`--dir`) Linux app built
 * from electron-builder.yml with a stand-in for the Electron binary (which cannot be downloaded
 * here), then checked against what engine/util/layout.ts looks for at run time. The installers
 * (AppImage, deb, dmg, nsis) and launching the app are not covered.
 *
 * The stand-in carries a fuse wire laid out as in Electron's binary (the @electron/fuses sentinel,
 * version 1, length, one byte per fuse at Electron's defaults), so electron-builder flips the fuses
 * of electron-builder.yml in it for real and @electron/fuses' own reader checks the result.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listPackage } from "@electron/asar";
import { FuseV1Options, FuseVersion, getCurrentFuseWire } from "@electron/fuses";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { layout, PROJECT_ROOT } from "../../engine/paths";
import { appLayout, venvPython } from "../../engine/util/layout";
import { buildElectronDist } from "../helpers/electron-build";
import { buildRenderer } from "../helpers/renderer-build";
import { HANG_MS } from "../helpers/limits";

const tmp = mkdtempSync(join(tmpdir(), "whetstone-package-"));
const resources = join(tmp, "out", "linux-unpacked", "resources");
let builder: { status: number | null; output: string };

/** @electron/fuses' sentinel, and Electron's default V1 wire: RunAsNode, cookie encryption, NODE_OPTIONS, inspect, asar integrity, only-asar, V8 snapshot, file:// privileges. */
const SENTINEL = "dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX";
const DEFAULT_WIRE = "10110001";
const ON = "1".charCodeAt(0);
const OFF = "0".charCodeAt(0);

function standInBinary(): Buffer {
  const script = Buffer.from("#!/bin/sh\necho stand-in for the Electron binary\nexit 0\n");
  const wire = Buffer.concat([Buffer.from(SENTINEL), Buffer.from([Number(FuseVersion.V1), DEFAULT_WIRE.length]), Buffer.from(DEFAULT_WIRE)]);
  return Buffer.concat([script, Buffer.from("# "), wire, Buffer.from("\n")]);
}

/** electron/dist as `npm start` builds it; renderer/dist when no build is there yet. */
async function buildApp(): Promise<void> {
  await buildElectronDist();
  if (!existsSync(join(PROJECT_ROOT, "renderer", "dist", "index.html"))) {
    const vite = buildRenderer();
    if (vite.status !== 0) throw new Error(vite.output);
  }
}

/** The unpacked app is ~270 MB: on a nearly full disk this test is skipped (and says so) rather than filling it. */
const freeGb = (() => {
  const s = statfsSync(tmpdir());
  return (s.bavail * s.bsize) / 1e9;
})();
if (freeGb < 2) console.warn(`package-dir test skipped: ${freeGb.toFixed(1)} GB free in ${tmpdir()}, it needs about 2 GB`);

describe.skipIf(process.platform !== "linux" || freeGb < 2)("the packaged app (electron-builder --dir, stand-in Electron binary)", () => {
  beforeAll(async () => {
    await buildApp();
    const electronDist = join(tmp, "electron-dist");
    mkdirSync(electronDist);
    writeFileSync(join(electronDist, "electron"), standInBinary());
    chmodSync(join(electronDist, "electron"), 0o755);
    const r = spawnSync(
      process.execPath,
      [join(PROJECT_ROOT, "node_modules/electron-builder/cli.js"), "--linux", "dir", `-c.electronDist=${electronDist}`, "-c.npmRebuild=false", `-c.directories.output=${join(tmp, "out")}`],
      { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, CI: "1" }, timeout: HANG_MS },
    );
    builder = { status: r.status, output: `${r.stdout}\n${r.stderr}` };
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("builds from electron-builder.yml", () => {
    expect(builder.status, builder.output).toBe(0);
    expect(readdirSync(resources).sort()).toEqual(["app.asar", "app.asar.unpacked", "setup.mjs", "worker"]);
  });

  it("flips the fuses of electron-builder.yml in the packaged binary", async () => {
    const binary = join(tmp, "out", "linux-unpacked", "whetstone");
    const wire = await getCurrentFuseWire(binary);
    expect(wire.version).toBe(FuseVersion.V1);
    expect({
      runAsNode: wire[FuseV1Options.RunAsNode],
      enableCookieEncryption: wire[FuseV1Options.EnableCookieEncryption],
      enableNodeOptionsEnvironmentVariable: wire[FuseV1Options.EnableNodeOptionsEnvironmentVariable],
      enableNodeCliInspectArguments: wire[FuseV1Options.EnableNodeCliInspectArguments],
      enableEmbeddedAsarIntegrityValidation: wire[FuseV1Options.EnableEmbeddedAsarIntegrityValidation],
      onlyLoadAppFromAsar: wire[FuseV1Options.OnlyLoadAppFromAsar],
    }).toEqual({
      runAsNode: OFF,
      enableCookieEncryption: ON,
      enableNodeOptionsEnvironmentVariable: OFF,
      enableNodeCliInspectArguments: OFF,
      enableEmbeddedAsarIntegrityValidation: ON,
      onlyLoadAppFromAsar: ON,
    });
    // Fuses not named in the config keep Electron's defaults.
    expect(wire[FuseV1Options.GrantFileProtocolExtraPrivileges]).toBe(ON);
  });

  it("puts the worker and the setup script where the packaged layout finds them, outside the archive", () => {
    const l = appLayout({ projectRoot: join(resources, "app.asar"), userData: join(tmp, "user-data") });
    expect(existsSync(join(l.workerDir, "whetstone_worker", "__main__.py"))).toBe(true);
    for (const f of ["requirements.txt", "requirements-dev.txt"]) expect(readFileSync(join(l.workerDir, f), "utf8")).toBe(readFileSync(join(layout().workerDir, f), "utf8"));
    expect(readFileSync(l.setupScript, "utf8")).toBe(readFileSync(layout().setupScript, "utf8"));
    const copied = readdirSync(l.workerDir, { recursive: true }) as string[];
    expect(copied.filter((p) => /__pycache__|\.venv|(^|\/)tests(\/|$)|\.pyc$/.test(p))).toEqual([]);
    // Python imports the worker from there (this checkout's venv standing in for the one the first launch makes).
    const py = spawnSync(venvPython(layout().venvDir), ["-c", "import whetstone_worker.protocol as p; print(p.__file__)"], { cwd: l.workerDir, encoding: "utf8", env: { ...process.env, PYTHONPATH: "" } });
    expect(py.stdout.trim(), py.stderr).toBe(join(l.workerDir, "whetstone_worker", "protocol.py"));
  });

  it("packs the built app, the catalog and the judge thread's packages into app.asar, and not the worker", () => {
    const files = new Set(listPackage(join(resources, "app.asar"), { isPack: false }).map((p) => p.split("\\").join("/")));
    for (const f of ["/package.json", "/electron/dist/main.js", "/electron/dist/preload.cjs", "/electron/dist/judge-thread.mjs", "/renderer/dist/index.html", "/assets/models/catalog.json", "/node_modules/@huggingface/transformers/package.json", "/node_modules/onnxruntime-node/package.json", "/node_modules/zod/package.json"]) {
      expect(files.has(f), f).toBe(true);
    }
    expect([...files].filter((f) => f.startsWith("/engine/worker"))).toEqual([]);
    expect([...files].some((f) => f.startsWith("/node_modules/vitest/"))).toBe(false); // dev dependencies stay out
  });

  it("unpacks onnxruntime's native binding for this OS only", () => {
    const bin = join(resources, "app.asar.unpacked", "node_modules", "onnxruntime-node", "bin");
    const napi = readdirSync(bin)[0]!;
    expect(readdirSync(join(bin, napi))).toEqual(["linux"]);
    expect(existsSync(join(bin, napi, "linux", process.arch, "onnxruntime_binding.node"))).toBe(true);
  });
});
