/**
 * Goldfish loss in miniature (arXiv 2406.10209's claim, on our tiny model): train the same model
 * for many epochs on a small set of passages with the standard loss and with goldfish (k = 4,
 * hashed, h = 13), then try to extract the passages (memorization audit: prompt + the first
 * answer tokens in, greedy continuation out). Claim checked: goldfish's exact-match extraction
 * rate is at most a third of the standard loss's, while its validation loss stays within 10%.
 * Also NEFTune on vs off on the standard run (losses only: a tiny random model cannot show a
 * quality effect, so none is claimed).
 *
 *   npm run bench -- goldfish [--epochs N] [--model DIR]
 */
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/api/engine";
import { PROJECT_ROOT } from "../engine/paths";
import { describeMachine } from "./machine";

interface Arm {
  name: string;
  training: Record<string, unknown>;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { epochs: { type: "string" }, model: { type: "string" }, out: { type: "string" } } });
  const epochs = Number(values.epochs ?? 60);
  const model = values.model ?? join(PROJECT_ROOT, ".cache", "fixtures", "tiny-llama");
  const work = mkdtempSync(join(tmpdir(), "whetstone-goldfish-"));
  const { train, validation, passages } = writePassages(work);
  const engine = new Engine({ home: join(work, "home") });
  const base = {
    model: { path: model },
    data: { train, validation, max_length: 256 },
    finetune: "full",
    training: { epochs, micro_batch_size: 8, learning_rate: 2e-3, warmup_ratio: 0.02, scheduler: "cosine", checkpoint_every: 100_000, packing: true, neftune_alpha: 0, seed: 1 },
  };
  const arms: Arm[] = [
    { name: "standard", training: {} },
    { name: "goldfish", training: { goldfish: { k: 4, h: 13, variant: "hashed" } } },
    { name: "standard-neftune5", training: { neftune_alpha: 5 } },
  ];
  const results: Record<string, Record<string, unknown>> = {};
  for (const arm of arms) {
    const t0 = Date.now();
    const run = await engine.createRun({ config: { ...base, name: arm.name, training: { ...base.training, ...arm.training } } });
    const done = await engine.waitForRun(run.id);
    if (done.state !== "completed") throw new Error(`${arm.name}: ${done.state} ${JSON.stringify(done.error)}`);
    const metrics = engine.getMetrics({ id: run.id });
    const last = metrics.at(-1)!;
    const valLoss = [...metrics].reverse().find((m) => typeof m.val_loss === "number")?.val_loss ?? null;
    const audit = arm.name.includes("neftune") ? null : await engine.auditRun({ id: run.id, samples: passages, prefixTokens: 8, continuationTokens: 32, seed: 0 });
    results[arm.name] = {
      train_loss_first: metrics[0]!.loss,
      train_loss_last: last.loss,
      val_loss: valLoss,
      steps: last.step,
      seconds: (Date.now() - t0) / 1000,
      exact_match_rate: audit?.tuned.exact_match_rate ?? null,
      lcs_ratio_mean: audit?.tuned.lcs_ratio_mean ?? null,
      base_exact_match_rate: audit?.base.exact_match_rate ?? null,
    };
    console.log(arm.name, JSON.stringify(results[arm.name]));
  }
  const std = results.standard!;
  const gf = results.goldfish!;
  const extractionRatio = (gf.exact_match_rate as number) / Math.max(std.exact_match_rate as number, 1e-9);
  const valRatio = (gf.val_loss as number) / (std.val_loss as number);
  const verdict = {
    goldfish_extraction_over_standard: extractionRatio,
    goldfish_val_loss_over_standard: valRatio,
    claim_holds: extractionRatio <= 1 / 3 && Math.abs(valRatio - 1) <= 0.1,
  };
  const command = `npm run bench -- goldfish${argv.length ? " " + argv.join(" ") : ""}`;
  const record = { bench: "goldfish", command, machine: describeMachine(), settings: { ...base, model: "tiny fixture (see engine/worker/whetstone_fixtures/tiny.py)", data: { passages, source: "assets/fixtures/tiny-corpus.txt, 4 lines per passage" } }, results, verdict };
  const outDir = values.out ?? join(PROJECT_ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "goldfish.json"), JSON.stringify(record, null, 2) + "\n");
  writeFileSync(join(outDir, "goldfish.md"), markdown(record) + "\n");
  console.log(markdown(record));
}

/** Passages of four corpus lines each; every third passage is held out for validation. */
function writePassages(dir: string) {
  const lines = readFileSync(join(PROJECT_ROOT, "assets", "fixtures", "tiny-corpus.txt"), "utf8").split("\n").filter((l) => l.trim());
  const rows: string[] = [];
  const held: string[] = [];
  for (let i = 0, n = 0; i + 4 <= lines.length; i += 4, n++) {
    const row = JSON.stringify({ messages: [{ role: "user", content: `Recite passage ${n}.` }, { role: "assistant", content: lines.slice(i, i + 4).join(" ") }] });
    (n % 3 === 2 ? held : rows).push(row);
  }
  const train = join(dir, "passages-train.jsonl");
  const validation = join(dir, "passages-validation.jsonl");
  writeFileSync(train, rows.join("\n") + "\n");
  writeFileSync(validation, held.join("\n") + "\n");
  return { train, validation, passages: rows.length };
}

function markdown(r: { command: string; machine: Record<string, unknown>; results: Record<string, Record<string, unknown>>; verdict: Record<string, unknown> }): string {
  const f = (x: unknown, d = 3) => (typeof x === "number" ? x.toFixed(d) : "n/a");
  const rows = Object.entries(r.results).map(
    ([name, x]) => `| ${name} | ${f(x.train_loss_first)} → ${f(x.train_loss_last)} | ${f(x.val_loss)} | ${x.exact_match_rate === null ? "—" : `${f(100 * (x.exact_match_rate as number), 1)}%`} | ${f(x.lcs_ratio_mean)} | ${x.steps} | ${f(x.seconds, 0)} s |`,
  );
  return [
    "# Goldfish loss in miniature",
    "",
    `Command: \`${r.command}\` on ${String(r.machine.cpu)} (${String(r.machine.cores)} cores), torch ${String(r.machine.torch)}, ${String(r.machine.date).slice(0, 10)}.`,
    "",
    "| arm | train loss | val loss | exact-match extraction | LCS ratio | steps | time |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `Goldfish extraction / standard: ${f(r.verdict.goldfish_extraction_over_standard)} (claim: ≤ 0.333); goldfish val loss / standard: ${f(r.verdict.goldfish_val_loss_over_standard)} (claim: within 1 ± 0.1). Claim holds: **${String(r.verdict.claim_holds)}**.`,
    "",
    "NEFTune: the standard-neftune5 row is the standard run with alpha 5; on a tiny random model no quality effect can be shown, so only its losses are reported.",
  ].join("\n");
}
