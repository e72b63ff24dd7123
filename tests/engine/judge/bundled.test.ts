/**
 * Offline first use of the packaged app, with the tiny judge standing in for the default one:
 * `npm run fetch-judge` (fetchDefaultJudge) downloads it from a loopback hub into the local cache;
 * `npm run package` (stageDefaultJudge) stages that copy where electron-builder.yml's extraResources
 * picks it up; a packaged app (resources laid out as electron-builder lays them out, a fresh user
 * home, no network) resolves the default judge to the installer's copy and judges with it.
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PROJECT_ROOT } from "../../../engine/paths";
import { appLayout } from "../../../engine/util/layout";
import { bundledJudgeDir, isCompleteCopy, judgeSlug } from "../../../engine/judge/bundled";
import { fetchDefaultJudge, stageDefaultJudge, STAGING_DIR } from "../../../engine/judge/bundled-scripts";
import type { JudgeSpec } from "../../../engine/judge/download";
import { judgePairs, resolveJudge } from "../../../engine/judge/run";
import { ensureTinyJudge } from "../eval/tiny-judge";

const FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "onnx/model.onnx"];
const spec: JudgeSpec = { repo: "org/tiny-judge", revision: "main", files: FILES.map((path) => ({ path })), approxBytes: 1e6 };
const tmp = mkdtempSync(join(tmpdir(), "whetstone-bundled-"));
const requests: string[] = [];
let hub: Server;
let endpoint: string;
let closedEndpoint: string;
const text = { write: (s: string) => void (log += s) };
let log = "";

beforeAll(async () => {
  const judge = ensureTinyJudge();
  hub = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const m = /^\/org\/tiny-judge\/resolve\/main\/(.+)$/.exec(req.url ?? "");
    const file = m && FILES.includes(m[1]!) ? readFileSync(join(judge, m[1]!)) : null;
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { etag: `"${createHash("sha256").update(file).digest("hex")}"`, "content-length": file.length });
    res.end(req.method === "HEAD" ? undefined : file);
  });
  await new Promise<void>((r) => hub.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  closedEndpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((r) => closed.close(r));
});

afterAll(() => {
  hub.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("the default judge in the installer", () => {
  it("fetch-judge → package staging → packaged app judging offline on first use", async () => {
    const builderHome = join(tmp, "builder-home");
    // npm run fetch-judge on the build machine
    expect(await fetchDefaultJudge(text, text, { home: builderHome, spec, endpoint })).toBe(0);
    expect(requests.some((r) => r.startsWith("GET"))).toBe(true);
    // npm run package: staged for electron-builder
    const staging = join(tmp, "build", "judge");
    const staged = stageDefaultJudge(text, { home: builderHome, spec, stagingDir: staging });
    expect(staged.staged).toBe(true);
    expect(staged.folder).toBe(join(staging, judgeSlug(spec)));
    for (const f of FILES) expect(readFileSync(join(staged.folder, f)).equals(readFileSync(join(ensureTinyJudge(), f)))).toBe(true);
    expect(isCompleteCopy(staged.folder, spec)).toBe(true);

    // electron-builder.yml copies the real staging folder (build/judge) to RESOURCES/judge
    const builder = parse(readFileSync(join(PROJECT_ROOT, "electron-builder.yml"), "utf8")) as { extraResources: { from: string; to: string }[] };
    const entry = builder.extraResources.find((r) => r.to === "judge");
    expect(entry?.from).toBe(relative(PROJECT_ROOT, STAGING_DIR));
    // ... which is where the packaged layout looks (RESOURCES/judge/<slug>)
    const resources = join(tmp, "install", "resources");
    cpSync(staging, join(resources, entry!.to), { recursive: true });
    const packaged = appLayout({ projectRoot: join(resources, "app.asar"), userData: join(tmp, "user-data") });
    const bundled = bundledJudgeDir(packaged, spec);
    expect(bundled).toBe(join(resources, "judge", judgeSlug(spec)));
    expect(bundledJudgeDir(appLayout({ projectRoot: PROJECT_ROOT }), spec)).toBeNull();

    // first use on a machine with no network and an empty user home: no download, the installer's copy
    requests.length = 0;
    const userHome = join(tmp, "user-home");
    const target = await resolveJudge({ judge: null }, userHome, { spec, bundledDir: bundled, endpoint: closedEndpoint });
    expect(target).toMatchObject({ kind: "onnx", path: bundled, name: "org/tiny-judge" });
    expect(existsSync(join(userHome, "judges"))).toBe(false); // nothing downloaded or copied
    const verdicts = await judgePairs(target, [{ instruction: "Say hi.", model: "Hi!", baseline: "Hi!" }], { inProcess: true });
    expect(verdicts[0]!.win).toBeCloseTo(verdicts[0]!.loss, 6); // identical answers: a symmetric verdict
    expect(requests).toEqual([]);
  });

  it("an incomplete installer copy is not used: the app downloads (here: offline, with the usual message)", async () => {
    const copy = join(tmp, "broken", judgeSlug(spec));
    stageDefaultJudge(text, { home: join(tmp, "builder-home"), spec, stagingDir: join(tmp, "broken") });
    writeFileSync(join(copy, "onnx", "model.onnx"), "truncated");
    expect(isCompleteCopy(copy, spec)).toBe(false);
    const err = await resolveJudge({ judge: null }, join(tmp, "home-2"), { spec, bundledDir: copy, endpoint: closedEndpoint }).catch((e) => e);
    expect(err).toMatchObject({ code: "JUDGE_OFFLINE" });
  });

  it("the user's cached copy wins over the installer's", async () => {
    const home = join(tmp, "builder-home");
    const target = await resolveJudge({ judge: null }, home, { spec, bundledDir: join(tmp, "install", "resources", "judge", judgeSlug(spec)), endpoint: closedEndpoint });
    expect(target).toMatchObject({ path: join(home, "judges", judgeSlug(spec)) });
    // The cache folder is named "<org>--<name>", which transformers.js refuses as a hub id; it loads by path.
    const [v] = await judgePairs(target, [{ instruction: "Add 2 and 2.", model: "4", baseline: "5" }], { inProcess: true });
    expect(v!.win + v!.loss + v!.tie).toBeCloseTo(1, 9);
  });

  it("packaging without a cached judge stages nothing, clears a stale staging and says how to include it", () => {
    const staging = join(tmp, "stale");
    mkdirSync(join(staging, judgeSlug(spec)), { recursive: true });
    writeFileSync(join(staging, judgeSlug(spec), "config.json"), "{}");
    log = "";
    const r = stageDefaultJudge(text, { home: join(tmp, "empty-home"), spec, stagingDir: staging });
    expect(r.staged).toBe(false);
    expect(existsSync(staging)).toBe(false);
    expect(log).toContain("npm run fetch-judge");
    expect(statSync(tmp).isDirectory() && readdirSync(tmp).includes("stale")).toBe(false);
  });
});
