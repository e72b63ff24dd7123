/**
 * The length-controlled win rate against AlpacaEval 2.0's published leaderboard.
 *
 * Data: bench/data/alpacaeval-lc.json (lc-data.ts): 50 models' per-prompt GPT-4-Turbo preferences
 * against gpt4_1106_preview and answer lengths, derived from tatsu-lab/alpaca_eval's public
 * annotations, with the leaderboard's published `win_rate` and `length_controlled_winrate`.
 * Each model goes through `summarize` exactly as `whetstone eval RUN --against base` computes it.
 *
 * Printed: model / published WR / ours / published LC / ours / error / whether the published LC is
 * inside our 95% CI; MAE, max error, Spearman; the same without the length-slope prior (the old fit,
 * for contrast); and a 5-fold held-out check of the prior's constants (re-chosen on 4/5 of the models
 * by the same grid search that chose them, errors measured on the other fifth).
 *
 * Compare mode: `whetstone compare` fits each run's vs-base match on its own rows with the same
 * function (no cross-run term), so its LC rates are these numbers (tests/engine/eval/eval.test.ts
 * checks that compare's stored vs-base LC equals `eval`'s on the same verdicts).
 *
 *   npm run bench -- lc [--resamples N]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../engine/paths";
import { fitLengthControlled, LENGTH_SLOPE_PRIOR, lcWinRate } from "../engine/eval/lc";
import { mean, rng, summarize } from "../engine/eval/stats";
import { agreement, loadAlpacaEval, type Agreement, type AlpacaModel } from "./lc-data";
import { describeMachine } from "./machine";

const GRID_MEANS = Array.from({ length: 17 }, (_, i) => Math.round((0.4 + 0.05 * i) * 100) / 100);
const GRID_PRECISIONS = [10, 15, 20, 30, 50, 75, 100];

/** The LC rate of every model under a prior (no bootstrap). */
function lcUnder(models: readonly AlpacaModel[], prior: { mean: number; precision: number }): Map<string, number> {
  return new Map(models.map((m) => [m.name, lcWinRate(m.judgments, fitLengthControlled(m.judgments, prior))]));
}

/** The grid search that chose LENGTH_SLOPE_PRIOR: minimize MAE + ¼ max error over `train`. */
export function choosePrior(train: readonly AlpacaModel[]): { mean: number; precision: number } {
  let best = { score: Infinity, mean: 0, precision: 0 };
  for (const m of GRID_MEANS)
    for (const precision of GRID_PRECISIONS) {
      const lc = lcUnder(train, { mean: m, precision });
      const a = agreement(train.map((x) => ({ name: x.name, published: x.published_lc, ours: lc.get(x.name)! })));
      const score = a.mae + 0.25 * a.max;
      if (score < best.score) best = { score, mean: m, precision };
    }
  return { mean: best.mean, precision: best.precision };
}

function heldOut(models: readonly AlpacaModel[], folds = 5, seed = 1): { agreement: Agreement; chosen: { mean: number; precision: number }[] } {
  const random = rng(seed);
  const order = models.map((m) => ({ m, key: random() })).sort((a, b) => a.key - b.key).map((x) => x.m);
  const rows: { name: string; published: number; ours: number }[] = [];
  const chosen: { mean: number; precision: number }[] = [];
  for (let f = 0; f < folds; f++) {
    const test = order.filter((_, i) => i % folds === f);
    const prior = choosePrior(order.filter((_, i) => i % folds !== f));
    chosen.push(prior);
    const lc = lcUnder(test, prior);
    rows.push(...test.map((m) => ({ name: m.name, published: m.published_lc, ours: lc.get(m.name)! })));
  }
  return { agreement: agreement(rows), chosen };
}

const f1 = (x: number) => x.toFixed(1);
const line = (label: string, a: Agreement) => `| ${label} | ${a.mae.toFixed(2)} | ${a.max.toFixed(2)} (${a.worst}) | ${a.bias >= 0 ? "+" : ""}${a.bias.toFixed(2)} | ${a.spearman.toFixed(3)} |`;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { resamples: { type: "string" } } });
  const resamples = Number(values.resamples ?? 1000);
  const { source, models } = loadAlpacaEval();
  const t0 = Date.now();
  const rows = models.map((m) => {
    const s = summarize(m.judgments, [], { resamples });
    return { name: m.name, published_wr: m.published_win_rate, wr: s.win_rate, published: m.published_lc, ours: s.lc_win_rate, ci: s.lc_win_rate_ci, phi: s.lc_fit.phi };
  });
  const single = agreement(rows);
  const rawWr = agreement(rows.map((r) => ({ name: r.name, published: r.published_wr, ours: r.wr })));
  const noPrior = lcUnder(models, { mean: 0, precision: 1e-3 });
  const old = agreement(models.map((m) => ({ name: m.name, published: m.published_lc, ours: noPrior.get(m.name)! })));
  const held = heldOut(models);
  const inside = rows.filter((r) => r.published >= r.ci.low && r.published <= r.ci.high).length;
  const seconds = (Date.now() - t0) / 1000;

  const md = [
    "# Length-controlled win rate vs AlpacaEval 2.0's published leaderboard",
    "",
    `Data: ${source.repository}@${(source.commit ?? "?").slice(0, 10)}, ${models.length} models × ${models[0]!.judgments.length} instructions (judge ${source.judge}, baseline ${source.baseline}). Prior on the length slope: mean ${LENGTH_SLOPE_PRIOR.mean}, precision ${LENGTH_SLOPE_PRIOR.precision}. Bootstrap: ${resamples} resamples. ${seconds.toFixed(1)} s.`,
    "",
    "| | MAE (points) | max | mean error | Spearman |",
    "|---|---|---|---|---|",
    line("raw win rate (data check)", rawWr),
    line("**LC, single evaluation**", single),
    line("LC, compare mode (each vs-base match: same fit, same rows)", single),
    line("LC, 5-fold held-out constants", held.agreement),
    line("LC without the slope prior (old fit)", old),
    "",
    `Published LC inside our 95% CI: ${inside} of ${rows.length}. Held-out folds chose (mean, precision): ${held.chosen.map((c) => `(${c.mean}, ${c.precision})`).join(", ")}.`,
    "",
    "| model | published WR | ours | published LC | ours | error | our 95% CI | φ |",
    "|---|---|---|---|---|---|---|---|",
    ...[...rows].sort((a, b) => b.published - a.published).map((r) => `| ${r.name} | ${f1(r.published_wr)} | ${f1(r.wr)} | ${f1(r.published)} | ${f1(r.ours)} | ${(r.ours - r.published >= 0 ? "+" : "") + (r.ours - r.published).toFixed(2)} | [${f1(r.ci.low)}, ${f1(r.ci.high)}] | ${r.phi.toFixed(2)} |`),
  ].join("\n");
  console.log(md);
  const out = join(PROJECT_ROOT, "bench", "results");
  mkdirSync(out, { recursive: true });
  const result = { command: `npm run bench -- lc --resamples ${resamples}`, machine: describeMachine(), source, prior: LENGTH_SLOPE_PRIOR, single, compare: single, held_out: held, raw_win_rate: rawWr, without_prior: old, published_inside_ci: inside, mean_abs_error_check: mean(rows.map((r) => Math.abs(r.ours - r.published))), models: rows };
  writeFileSync(join(out, "lc.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(out, "lc.md"), md + "\n");
}
