/**
 * `whetstone models pull` against a loopback fake hub (engine/worker/tests/fakehub.py, the endpoints
 * and headers huggingface_hub uses): the tiny model downloads through the real client, the cut
 * transfer resumes with a Range request, training then uses the model by hub id, and the token
 * (gated repo) never lands on disk.
 */
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesUnder, hubCli, startFakeHub, type FakeHubProcess } from "../../helpers/fakehub";
import { ensureTinyModel, tempHome, TINY_DATA, TINY_MODEL } from "../../helpers/fixture";

const TOKEN = "hf_FakeTokenForTests0123456789abcdef";
const REPO = "fake-org/tiny-llama";
const DATASET = "fake-org/tiny-chat";

let hub: FakeHubProcess;
let url: string;
let dir: string;

beforeAll(async () => {
  ensureTinyModel();
  dir = tempHome();
  mkdirSync(join(dir, "ds"));
  copyFileSync(TINY_DATA, join(dir, "ds", "train.jsonl"));
  hub = await startFakeHub(dir, { repos: { [`model:${REPO}`]: TINY_MODEL, [`dataset:${DATASET}`]: join(dir, "ds") }, cut: "model.safetensors", gated_token: TOKEN });
  url = hub.url;
});

afterAll(() => {
  hub?.close();
});

const cli = (args: string[], env: Record<string, string | undefined>) => hubCli(url)(args, env);

describe("whetstone models pull", () => {
  it("downloads from the hub, resumes a cut transfer, trains on a model and a dataset by hub id, and never writes the token", () => {
    const home = join(dir, "home");
    const hfHome = join(dir, "hf");
    const env = { WHETSTONE_HOME: home, HF_HOME: hfHome, HF_TOKEN: TOKEN };

    // Gated: without the token the hub says no, and the message names the page to accept the licence.
    const denied = cli(["models", "pull", REPO], { WHETSTONE_HOME: home, HF_HOME: hfHome });
    expect(denied.code).toBe(1);
    expect(denied.err).toContain("HUB_GATED");
    expect(denied.err).toContain(`${url}/${REPO}`);

    // Before the pull, a config naming the id says how to get it.
    mkdirSync(join(dir, "cfg"), { recursive: true });
    const config = join(dir, "cfg", "by-id.yaml");
    writeFileSync(config, `name: by-id\nmodel:\n  path: ${REPO}\ndata:\n  train: ${DATASET}\n  max_length: 192\nlora: {r: 4, alpha: 8}\ntraining:\n  max_steps: 3\n  micro_batch_size: 4\n  checkpoint_every: 10\n  neftune_alpha: 0\n`);
    const early = cli(["train", config], env);
    expect(early.code).toBe(2);
    expect(early.err).toContain("MODEL_NOT_CACHED");
    expect(early.err).toContain(`whetstone models pull ${REPO}`);

    const readRequests = () => hub.requests();
    const before = readRequests().length;
    const pulled = cli(["models", "pull", REPO], env);
    expect(pulled.err).toBe("");
    expect(pulled.code).toBe(0);
    expect(pulled.out).toMatch(new RegExp(`pulled ${REPO}@[0-9a-f]{12}: 6 files, .* 6 checksums verified`));
    expect(pulled.out).toContain("with the access token from the environment");
    const requests = readRequests().slice(before);
    const weights = requests.filter((r) => r.method === "GET" && r.path.endsWith("/resolve/0123456789abcdef0123456789abcdef01234567/model.safetensors"));
    expect(weights.length).toBe(2);
    expect(weights[0]!.range).toBeNull();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(weights[1]!.range ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThan(statSync(join(TINY_MODEL, "model.safetensors")).size);

    const dataset = cli(["models", "pull", DATASET, "--dataset"], env);
    expect(dataset.code).toBe(0);
    expect(dataset.out).toContain("use it with data.train:");

    const trained = cli(["train", config], env);
    expect(trained.code).toBe(0);
    expect(trained.out).toMatch(/completed: \S+ at step 3\/3/);
    const runId = /^run (\S+)/m.exec(trained.out)![1]!;
    const runConfig = JSON.parse(readFileSync(join(home, "runs", runId, "config.json"), "utf8")) as { model: { path: string } };
    expect(runConfig.model.path).toBe(join(hfHome, "hub", "models--fake-org--tiny-llama", "snapshots", "0123456789abcdef0123456789abcdef01234567"));

    const listed = cli(["models", "list", "--json"], env);
    expect((JSON.parse(listed.out) as { cached: { id: string; type: string }[] }).cached.map((c) => `${c.type}:${c.id}`)).toEqual([`dataset:${DATASET}`, `model:${REPO}`]);
    const manifest = JSON.parse(readFileSync(join(home, "runs", runId, "data", "manifest.json"), "utf8")) as Record<string, unknown>;
    expect(JSON.stringify(manifest)).toContain("datasets--fake-org--tiny-chat");

    // The token went to the hub (every request authorized) and nowhere on disk.
    expect(requests.length).toBeGreaterThan(6);
    expect(requests.filter((r) => r.path.includes(REPO)).every((r) => r.auth)).toBe(true);
    const leaked = [home, hfHome, join(dir, "cfg")].flatMap(filesUnder).filter((f) => readFileSync(f).includes(TOKEN));
    expect(leaked).toEqual([]);
  });
});
