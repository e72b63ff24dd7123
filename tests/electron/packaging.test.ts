/**
 * Packaged-app paths: engine/util/layout.ts for both layouts (injected roots, no Electron), and
 * electron-builder.yml putting into the package exactly what the layout looks for. Packaging itself
 * never runs here (no Electron binary).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { appLayout, isPackagedRoot, venvPython } from "../../engine/util/layout";
import { layout, PROJECT_ROOT, WORKER_DIR, workerPython } from "../../engine/paths";
import { setupEnv } from "../../electron/first-launch";
import { buildElectronDist } from "../helpers/electron-build";

const RESOURCES = join("/opt", "Whetstone", "resources");
const ASAR = join(RESOURCES, "app.asar");
const USER_DATA = join("/home", "ada", ".config", "Whetstone");
const builder = parse(readFileSync(join(PROJECT_ROOT, "electron-builder.yml"), "utf8")) as {
  files: string[];
  extraResources: { from: string; to: string; filter?: string[] }[];
  asarUnpack: string[];
  directories: { buildResources: string };
};

describe("layout", () => {
  it("finds everything in the checkout in dev", () => {
    const l = appLayout({ projectRoot: "/src/whetstone" });
    expect(l).toEqual({
      packaged: false,
      workerDir: join("/src/whetstone", "engine", "worker"),
      setupScript: join("/src/whetstone", "scripts", "setup.mjs"),
      judgeThread: join("/src/whetstone", "engine", "judge", "thread-boot.mjs"),
      venvDir: join("/src/whetstone", "engine", "worker", ".venv"),
      cacheDir: join("/src/whetstone", ".cache"),
    });
  });

  it("finds the worker and setup beside app.asar and keeps the venv in the user's data folder when packaged", () => {
    expect(isPackagedRoot(ASAR)).toBe(true);
    expect(isPackagedRoot("/src/whetstone")).toBe(false);
    const l = appLayout({ projectRoot: ASAR, userData: USER_DATA });
    expect(l.packaged).toBe(true);
    expect(l.workerDir).toBe(join(RESOURCES, "worker"));
    expect(l.setupScript).toBe(join(RESOURCES, "setup.mjs"));
    expect(l.judgeThread).toBe(join(ASAR, "electron", "dist", "judge-thread.mjs"));
    expect(l.venvDir).toBe(join(USER_DATA, "python"));
    expect(l.cacheDir).toBe(join(USER_DATA, "cache"));
    // Python reads real files only: nothing it runs may be inside the archive, nothing it writes inside the install folder.
    for (const p of [l.workerDir, l.setupScript]) expect(p.includes(`app.asar${sep}`)).toBe(false);
    for (const p of [l.venvDir, l.cacheDir]) expect(p.startsWith(RESOURCES)).toBe(false);
    expect(appLayout({ projectRoot: ASAR, userData: USER_DATA, resourcesPath: "/elsewhere" }).workerDir).toBe(join("/elsewhere", "worker"));
    expect(() => appLayout({ projectRoot: ASAR })).toThrow(/user's data folder/);
  });

  it("names the venv's interpreter per platform", () => {
    expect(venvPython("/v", "linux")).toBe(join("/v", "bin", "python"));
    expect(venvPython("/v", "win32")).toBe(join("/v", "Scripts", "python.exe"));
  });

  it("is what the engine uses in this checkout, and those files exist", () => {
    const l = layout({});
    expect(l.packaged).toBe(false);
    expect(WORKER_DIR).toBe(l.workerDir);
    for (const p of [join(l.workerDir, "whetstone_worker", "__main__.py"), l.setupScript, l.judgeThread]) expect(existsSync(p), p).toBe(true);
    expect(workerPython({})).toBe(venvPython(l.venvDir));
    expect(workerPython({ WHETSTONE_PYTHON: "/usr/bin/python3" })).toBe("/usr/bin/python3");
  });

  it("points the packaged first-launch setup at the worker folder and the user's venv, without the hub token", () => {
    const l = appLayout({ projectRoot: ASAR, userData: USER_DATA });
    const env = setupEnv(l, { PATH: "/bin", HF_TOKEN: "hf_secret", ELECTRON_RUN_AS_NODE: "1", NODE_OPTIONS: "--require /tmp/x.js" });
    expect(env).toMatchObject({ WHETSTONE_WORKER_DIR: l.workerDir, WHETSTONE_VENV: l.venvDir, WHETSTONE_SKIP_FIXTURE: "1", PATH: "/bin" });
    expect(env.HF_TOKEN).toBeUndefined();
    // It runs in a utility process, not as ELECTRON_RUN_AS_NODE (the RunAsNode fuse is off); nothing changes how Node runs it.
    expect(env.ELECTRON_RUN_AS_NODE).toBeUndefined();
    expect(env.NODE_OPTIONS).toBeUndefined();
    const dev = setupEnv(appLayout({ projectRoot: "/src/whetstone" }), { PATH: "/bin" });
    expect(dev.WHETSTONE_VENV).toBeUndefined();
    const setup = readFileSync(join(PROJECT_ROOT, "scripts", "setup.mjs"), "utf8");
    for (const v of ["WHETSTONE_WORKER_DIR", "WHETSTONE_VENV", "WHETSTONE_SKIP_FIXTURE"]) expect(setup).toContain(`process.env.${v}`);
  });
});

describe("electron-builder.yml", () => {
  const packaged = appLayout({ projectRoot: ASAR, userData: USER_DATA });
  const resource = (to: string) => builder.extraResources.find((r) => join(RESOURCES, r.to) === to);

  it("copies the worker package and both requirements files to where the layout looks", () => {
    const worker = resource(packaged.workerDir);
    expect(worker, "an extraResources entry for RESOURCES/worker").toBeDefined();
    expect(worker!.from).toBe(relative(PROJECT_ROOT, WORKER_DIR).split(sep).join("/"));
    expect(worker!.filter).toEqual(expect.arrayContaining(["whetstone_worker/**", "requirements*.txt", "!**/__pycache__/**"]));
    // setup.mjs installs from both files.
    for (const f of ["requirements.txt", "requirements-dev.txt"]) expect(existsSync(join(PROJECT_ROOT, worker!.from, f))).toBe(true);
    expect(worker!.filter).not.toContain(".venv/**");
  });

  it("copies the setup script beside app.asar, and keeps the worker out of the archive", () => {
    expect(resource(packaged.setupScript)?.from).toBe("scripts/setup.mjs");
    expect(builder.files).toContain("!engine/worker/**");
    expect(builder.files).toContain("electron/dist/**");
    expect(builder.asarUnpack).toContain("node_modules/onnxruntime-node/bin/**");
    expect(builder.files).toContain("!node_modules/onnxruntime-node/bin/napi-v*/!(${platform})/**");
  });

  it("ships the model catalog and the GLAN taxonomy the engine reads at run time", () => {
    expect(builder.files).toContain("assets/models/**");
    expect(builder.files).toContain("assets/synth/**");
    // electron-builder leaves the buildResources folder out of the app.
    expect(builder.directories.buildResources).not.toBe("assets");
  });

  it("gets a judge thread bundle that runs in a worker thread without tsx", async () => {
    // Built exactly as scripts/start.mjs builds electron/dist/judge-thread.mjs (the packaged layout's judgeThread).
    const start = readFileSync(join(PROJECT_ROOT, "scripts", "start.mjs"), "utf8");
    expect(start).toMatch(/entryPoints: \[join\(ROOT, "engine\/judge\/thread\.ts"\)\], outfile: join\(ROOT, "electron\/dist\/judge-thread\.mjs"\)/);
    const dir = join(PROJECT_ROOT, ".cache", `judge-thread-test-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, "judge-thread.mjs");
    await buildElectronDist(dir, "judge-thread");
    expect(readFileSync(out, "utf8")).not.toMatch(/from "tsx/);
    const missing = join(dir, "no-such-judge");
    const worker = new Worker(out);
    const message = await new Promise<{ type: string; id: number; error?: { code: string; message: string } }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the judge thread exited (${code}) without an answer`)));
      worker.postMessage({ type: "judge", id: 7, target: { kind: "onnx", path: missing, name: "x", file: join(missing, "onnx", "model.onnx") }, pairs: [{ instruction: "a", model: "b", baseline: "c" }] });
    }).finally(() => worker.terminate());
    rmSync(dir, { recursive: true, force: true });
    // The bundle ran in the thread and reached @huggingface/transformers (which failed on the missing folder).
    expect(message).toMatchObject({ type: "error", id: 7, error: { code: "JUDGE_LOAD_FAILED" } });
    expect(message.error!.message).toContain(missing);
  });
});
