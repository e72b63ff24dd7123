/**
 * `whetstone push` against the loopback fake hub (engine/worker/tests/fakehub.py and fakehub_upload.py:
 * the upload endpoints huggingface_hub 1.33 calls) on a finished tiny run: a repo of someone else is
 * refused before the export and before any write request; a push cut off by the hub after the
 * weights resumes without sending them again; the files on the hub are the export's, byte for byte,
 * with a card naming the repo; `--private` reaches the hub; progress reaches the terminal; the
 * token lands nowhere on disk.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesUnder, hubCli, startFakeHub, type FakeHubProcess } from "../../helpers/fakehub";
import { tempHome } from "../../helpers/fixture";
import { tinyRuns } from "../eval/tiny-runs";

const TOKEN = "hf_PushTokenForTests0123456789abcdef";
const REPO = "fake-user/tiny-push";

let hub: FakeHubProcess;
let home: string;
let runId: string;
let store: string;

beforeAll(async () => {
  const runs = await tinyRuns();
  home = runs.home;
  runId = runs.ids[0]!;
  const hubDir = tempHome(); // the hub's config holds the token: not under the home the leak check reads
  store = join(hubDir, "store");
  hub = await startFakeHub(hubDir, {
    repos: { "model:someone-else/their-model": join(home, "runs", runId, "outputs", "adapter") },
    store,
    tokens: { [TOKEN]: "write" },
    // tokenizer.json (53 kB) is LFS too; the weights (810 kB) go multipart in 300 kB parts; the 4th
    // upload request (tokenizer.json's, after the weights' 3 parts) is answered with an error.
    lfs_threshold: 40_000,
    multipart_chunk: 300_000,
    fail_lfs_upload: 4,
  });
});

afterAll(() => hub?.close());

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("whetstone push", () => {
  it("refuses someone else's repo before exporting, resumes a cut push, lands the export's bytes with a card", () => {
    const cli = (args: string[]) => hubCli(hub.url)(args, { WHETSTONE_HOME: home, HF_TOKEN: TOKEN });
    const writes = () => hub.requests().filter((r) => r.method !== "GET" && r.method !== "HEAD");

    const foreign = cli(["push", runId, "--repo", "someone-else/their-model"]);
    expect(foreign.code).toBe(1);
    expect(foreign.err).toContain("HUB_REPO_NOT_OURS");
    expect(foreign.err).toContain("someone-else/their-model exists and belongs to someone-else");
    expect(writes()).toEqual([]);
    expect(existsSync(join(home, "runs", runId, "push"))).toBe(false); // refused before the export

    const cut = cli(["push", runId, "--repo", REPO, "--private"]);
    expect(cut.code).toBe(1);
    expect(cut.err).toContain("HUB_PUSH_FAILED");
    expect(cut.err).toContain("Error while uploading 'tokenizer.json' to the Hub.");
    expect(cut.err).toContain("Push again: the files already on the hub are not sent again.");
    const folder = join(home, "runs", runId, "push", "safetensors");
    const weights = sha256(join(folder, "model.safetensors"));
    const tokenizer = sha256(join(folder, "tokenizer.json"));
    const puts = () => hub.requests().filter((r) => r.method === "PUT").map((r) => r.path);
    expect(puts()).toEqual([1, 2, 3].map((n) => `/lfs/part/${weights}/${n}`).concat(`/lfs/upload/${tokenizer}`));
    const created = writes().filter((r) => r.path === "/api/repos/create");
    expect(created.map((r) => r.payload?.visibility)).toEqual(["private"]);

    const pushed = cli(["push", runId, "--repo", REPO, "--private"]);
    expect(pushed.err).toBe("");
    expect(pushed.code).toBe(0);
    expect(puts().slice(4)).toEqual([`/lfs/upload/${tokenizer}`]); // the weights are not sent again
    expect(pushed.out).toContain(`pushed ${runId} (safetensors) to ${hub.url}/${REPO} (private)`);
    expect(pushed.out).toContain("1 already on the hub (model.safetensors)");
    expect(pushed.out).toContain(`from ${folder} (an earlier export)`);
    expect(pushed.out).toMatch(/^hash 100% /m);
    expect(pushed.out).toMatch(/^upload 100% /m);

    // On the hub: the export's files, byte for byte, and a card naming the repo.
    const local = readdirSync(folder).filter((f) => f !== "README.md").sort();
    expect(readdirSync(join(store, REPO)).sort()).toEqual([...local, "README.md"].sort());
    for (const f of local) expect(sha256(join(store, REPO, f)), f).toBe(sha256(join(folder, f)));
    const card = readFileSync(join(store, REPO, "README.md"), "utf8");
    expect(card).toContain(`AutoModelForCausalLM.from_pretrained("${REPO}")`);
    expect(card).toMatch(/^library_name: "transformers"$/m);

    const records = JSON.parse(readFileSync(join(home, "runs", runId, "reports", "pushes.json"), "utf8")) as { url: string; private: boolean; already_on_hub: string[] }[];
    expect(records).toEqual([expect.objectContaining({ url: `${hub.url}/${REPO}`, private: true, already_on_hub: ["model.safetensors"] })]);
    expect(filesUnder(home).filter((f) => readFileSync(f).includes(TOKEN))).toEqual([]);
  });
});
