/**
 * Machine and model commands: `whetstone doctor`, `whetstone setup --cuda|--cpu|--rocm|--mps`,
 * `whetstone models list|pull|login|logout`, and `whetstone train CONFIG --plan`.
 */
import { spawnSync } from "node:child_process";
import { formatReport } from "../doctor/analyze";
import { hubCache, hubEndpoint, isHubId } from "../models/hub";
import { hubToken, platformKeychain, storeHubToken } from "../secrets/token";
import { layout } from "../paths";
import { WhetstoneError } from "../util/errors";
import { EXIT, type Client, type Io } from "./io";
import { RunProgress } from "./progress";
import { duration, table } from "./format";
import { killAllWorkers } from "../supervisor/live";

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

export async function doctorCommand(engine: Client, io: Io, opts: { json?: boolean }): Promise<number> {
  const report = await engine.call("doctor", {});
  io.out.write((opts.json ? JSON.stringify(report, null, 2) : formatReport(report)) + "\n");
  return report.summary.ready ? EXIT.ok : EXIT.failed;
}

const TORCH_BUILDS = { cuda: "cuda", cpu: "cpu", rocm: "rocm", mps: "default" } as const;

/** Re-run scripts/setup.mjs with the torch build asked for (it reinstalls torch only when the choice changed). */
export function setupCommand(io: Io, flags: Partial<Record<keyof typeof TORCH_BUILDS, boolean>>): number {
  const chosen = (Object.keys(TORCH_BUILDS) as (keyof typeof TORCH_BUILDS)[]).filter((k) => flags[k]);
  if (chosen.length > 1) throw new WhetstoneError({ code: "USAGE", message: `Pick one torch build, got ${chosen.map((c) => `--${c}`).join(" ")}.`, hint: "whetstone setup --cuda | --cpu | --rocm | --mps (none: pick for this machine)" });
  const kind = chosen[0];
  if (kind === "mps" && process.platform !== "darwin") throw new WhetstoneError({ code: "USAGE", message: "--mps is for Apple silicon Macs.", hint: "Use --cuda (NVIDIA), --rocm (AMD, Linux) or --cpu here." });
  if (kind === "rocm" && process.platform !== "linux") throw new WhetstoneError({ code: "USAGE", message: "PyTorch ships ROCm builds for Linux only.", hint: "Use --cuda (NVIDIA) or --cpu here." });
  io.out.write(`setup: torch build ${kind ?? "auto (picked for this machine)"}\n`);
  const r = spawnSync(process.execPath, [layout().setupScript], { stdio: "inherit", env: { ...process.env, WHETSTONE_TORCH: kind ? TORCH_BUILDS[kind] : "auto" } });
  return r.status === 0 ? EXIT.ok : EXIT.failed;
}

export async function modelsListCommand(engine: Client, io: Io, opts: { json?: boolean }): Promise<number> {
  {
    const models = await engine.call("listModels", {});
    const cached = await engine.call("listCachedRepos", {});
    if (opts.json) {
      io.out.write(JSON.stringify({ catalog: models, cached }, null, 2) + "\n");
      return EXIT.ok;
    }
    const rows = [["MODEL", "PARAMS", "CONTEXT", "LICENCE", "CHAT", "LORA", "LORA+CKPT", "FULL+CKPT", "CACHED"]];
    for (const m of models) {
      const fit = (k: string) => `${m.fits[k]!.fits ? "✓" : "✗"} ${gib(m.fits[k]!.bytes)}`;
      rows.push([m.id, `${(m.parameters / 1e9).toFixed(2)}B`, String(m.context_length), `${m.license}${m.gated ? " (gated)" : ""}`, m.chat_template ? "yes" : "no", fit("lora"), fit("lora+checkpointing"), fit("full"), m.cached ? "yes" : "-"]);
    }
    io.out.write(`${table(rows)}\n(estimated peak memory at the default settings, max_length 1024 and micro-batch 4, against this machine's GPU or RAM; CKPT: gradient checkpointing)\n`);
    const extra = cached.filter((c) => !models.some((m) => m.id === c.id && c.type === "model"));
    if (extra.length) io.out.write(`\nalso in the cache (${hubCache()}):\n${extra.map((c) => `  ${c.type === "dataset" ? "dataset " : ""}${c.id}  ${gib(c.bytes)}`).join("\n")}\n`);
    return EXIT.ok;
  }
}

/**
 * Ctrl-C stops the download's worker (the engine's pullModel has no cancel yet) and answers as a
 * cancelled pull: what was downloaded stays in the cache, and the next pull resumes it.
 */
export async function modelsPullCommand(engine: Client, id: string | undefined, io: Io, opts: { json?: boolean; dataset?: boolean; revision?: string }): Promise<number> {
  {
    if (!id || !isHubId(id)) throw new WhetstoneError({ code: "USAGE", message: id ? `'${id}' is not a hub id (owner/name).` : "`whetstone models pull` needs a hub id.", hint: "e.g. whetstone models pull Qwen/Qwen2.5-0.5B-Instruct (--dataset for a dataset)" });
    const progress = new RunProgress(`pull:${id}`, io.out);
    let stopped = false;
    io.onInterrupt(() => {
      progress.line("Stopping the download; `whetstone models pull` again resumes it.");
      stopped = true;
      killAllWorkers("SIGTERM");
    });
    io.out.write(`pulling ${opts.dataset ? "dataset " : ""}${id} from ${hubEndpoint()} into ${hubCache()}\n`);
    const { token, source } = hubToken();
    if (token) io.out.write(`  with the access token from the ${source}\n`);
    const started = Date.now();
    const unsubscribe = engine.subscribe((e) => e.type === "download" && e.repoId === id && progress.handle({ type: "progress", runId: `pull:${id}`, progress: e.progress }));
    const result = await engine
      .call("pullModel", { id, ...(opts.dataset ? { dataset: true } : {}), ...(opts.revision ? { revision: opts.revision } : {}) })
      .catch((e: unknown) => {
        if (!stopped) throw e;
        throw new WhetstoneError({ code: "CANCELLED", message: `The download of ${id} was cancelled.`, hint: `Run \`whetstone models pull ${id}\` again: it resumes where it stopped.` });
      })
      .finally(unsubscribe);
    progress.finish();
    if (opts.json) io.out.write(JSON.stringify(result, null, 2) + "\n");
    else
      io.out.write(
        `pulled ${result.repo_id}@${result.commit.slice(0, 12)}: ${result.files} files, ${gib(result.bytes)} (${gib(result.downloaded_bytes)} downloaded in ${duration((Date.now() - started) / 1000)}), ${result.verified_files} checksums verified\n` +
          `  ${result.path}\n` +
          (result.repo_type === "model" ? `  use it with model.path: ${result.repo_id}\n` : `  use it with data.train: ${result.path}\n`),
      );
    return EXIT.ok;
  }
}

/** The token lives in the OS keychain of this machine: these two talk to it, not to the engine. */
export async function loginCommand(io: Io): Promise<number> {
  {
    const keychain = platformKeychain();
    if (!keychain) {
      storeHubToken("hf_" + "x".repeat(20), null); // throws KEYCHAIN_UNAVAILABLE with what to do instead
    }
    const token = await readSecret(io, "Hugging Face access token (read access; write access to push; https://huggingface.co/settings/tokens): ");
    io.out.write(`token stored in the ${storeHubToken(token, keychain)}\n`);
    return EXIT.ok;
  }
}

export function logoutCommand(io: Io): number {
  const keychain = platformKeychain();
  keychain?.remove();
  io.out.write(keychain ? `token removed from the ${keychain.name}\n` : "no keychain on this machine: nothing was stored\n");
  return EXIT.ok;
}

/** A line from stdin; on a terminal without echo (the token never shows on screen or in scrollback). */
function readSecret(io: Io, prompt: string): Promise<string> {
  const stdin = process.stdin;
  io.err(prompt);
  return new Promise((resolve) => {
    let text = "";
    const tty = stdin.isTTY;
    if (tty) stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\u0003") process.exit(EXIT.cancelled);
        if (ch === "\r" || ch === "\n") {
          stdin.off("data", onData);
          if (tty) stdin.setRawMode(false);
          stdin.pause();
          io.err("\n");
          resolve(text);
          return;
        }
        if (ch === "\u007f") text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on("data", onData);
    stdin.on("end", () => resolve(text));
    stdin.resume();
  });
}

/** `whetstone train CONFIG --plan`: exit 0 when it fits, 1 when it does not. */
export async function planCommand(engine: Client, configPath: string, io: Io, opts: { json?: boolean }): Promise<number> {
  const plan = await engine.call("planRun", { configPath });
  io.out.write((opts.json ? JSON.stringify(plan, null, 2) : plan.text) + "\n");
  return plan.fits ? EXIT.ok : EXIT.failed;
}
