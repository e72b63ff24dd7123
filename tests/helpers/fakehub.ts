/**
 * The loopback fake hub (engine/worker/tests/fakehub.py) as a child process for the TypeScript tests:
 * the download endpoints and, for pushes, the upload ones (fakehub_upload.py). `config` is the
 * script's JSON config; every request is appended to `<dir>/requests.jsonl`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { PROJECT_ROOT, WORKER_DIR, workerPython } from "../../engine/paths";
import { HANG_MS } from "./limits";

const BIN = join(PROJECT_ROOT, "bin", "whetstone.mjs");

export interface HubRequest {
  method: string;
  path: string;
  query: string;
  range: string | null;
  auth: boolean;
  payload?: Record<string, unknown>;
}

export interface FakeHubProcess {
  url: string;
  /** Every request so far, oldest first. */
  requests(): HubRequest[];
  close(): void;
}

export async function startFakeHub(dir: string, config: Record<string, unknown>): Promise<FakeHubProcess> {
  const log = join(dir, "requests.jsonl");
  const cfg = join(dir, "hub.json");
  writeFileSync(cfg, JSON.stringify({ log, ...config }));
  const proc: ChildProcess = spawn(workerPython(), [join(WORKER_DIR, "tests", "fakehub.py"), cfg], { cwd: join(WORKER_DIR, "tests"), stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`fakehub.py exited with ${code}`)));
    createInterface({ input: proc.stdout! }).once("line", (l) => resolve(l.split(" ")[1]!));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as HubRequest) : []),
    close: () => void proc.kill(),
  };
}

/** `whetstone ARGS` talking to this hub: online, no keychain, and a token only where `env` gives one. */
export function hubCli(url: string) {
  return (args: string[], env: Record<string, string | undefined>) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, WHETSTONE_KEYCHAIN: "none", HF_ENDPOINT: url, ...env }, encoding: "utf8", timeout: HANG_MS });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
}

/** Every file under `root` (links not followed): where a token must never turn up. */
export function filesUnder(root: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}
