/** Step 4: hyperparameters, derived from the model and the data, with the engine's run plan. */
import { useEffect, useMemo, useState } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { suggestSettings } from "../lib/suggest";
import { draftToConfig, type Draft } from "../lib/draft";
import { duration, gib, num } from "../lib/format";
import type { ApiOutput } from "../../../engine/api/contract";

export function SettingsStep() {
  const client = useClient();
  const d = useAppStore((s) => s.draft);
  const report = useAppStore((s) => s.report);
  const update = useAppStore((s) => s.updateDraft);
  const suggested = useMemo(() => suggestSettings(d, report), [d, report]);
  const [plan, setPlan] = useState<ApiOutput<"planRun"> | null>(null);
  const [planError, setPlanError] = useState<string | null>(null);

  // Re-plan when the settings change (debounced: typing a number is several changes).
  useEffect(() => {
    if (!client.has("planRun")) return;
    const t = setTimeout(() => {
      client.planRun({ config: draftToConfig(d) }).then(
        (p) => (setPlan(p), setPlanError(null)),
        (e) => (setPlan(null), setPlanError(errorInfo(e).message)),
      );
    }, 300);
    return () => clearTimeout(t);
  }, [client, d]);

  const tokens = report?.stats.tokens;
  // Packing puts several samples in a row, so the epoch count is an upper bound; max_steps caps it.
  const byEpochs = report ? Math.ceil(report.stats.samples / (d.microBatchSize * d.gradientAccumulation)) * d.epochs : null;
  const steps = d.maxSteps ?? byEpochs;
  // A throughput measured by an earlier run of this model and method on this device beats the FLOPs guess.
  const tps = plan?.measured?.tokensPerSecond ?? plan?.tokensPerSecondGuess ?? null;
  const seconds = tokens && tps ? (tokens.tokens_per_epoch * d.epochs) / tps : null;

  const numField = (key: keyof Draft, label: string, opts: { min?: number; max?: number; step?: number; help?: string } = {}) => (
    <div className="field" key={key}>
      <label htmlFor={`f-${key}`}>{label}</label>
      <input id={`f-${key}`} type="number" min={opts.min} max={opts.max} step={opts.step ?? "any"} value={(d[key] as number | null) ?? ""} onChange={(e) => update({ [key]: e.target.value === "" ? null : Number(e.target.value) } as Partial<Draft>)} />
      {opts.help && <small>{opts.help}</small>}
    </div>
  );

  return (
    <>
      <div className="suggest">
        <span>
          Suggested for {report ? `${report.stats.samples} samples` : "this data"}: {suggested.epochs} epochs, learning rate {suggested.learningRate}, max length {suggested.maxLength}.
        </span>
        <button type="button" onClick={() => update(suggested)}>Use suggested</button>
      </div>
      <div className="grid2">
        {numField("epochs", "Epochs", { min: 1, step: 1, help: "Passes over the data. Small datasets need more." })}
        {numField("learningRate", "Learning rate", { min: 0, help: "Peak AdamW learning rate: ~2e-4 for LoRA, ~2e-5 for full." })}
        {numField("microBatchSize", "Micro-batch size", { min: 1, step: 1, help: "Rows per forward pass. Lower it if memory does not fit." })}
        {numField("maxLength", "Max length (tokens)", { min: 16, step: 1, help: "Longer samples are dropped (see the data step's histogram)." })}
        {d.finetune !== "full" && numField("loraR", "LoRA rank", { min: 1, step: 1, help: "Adapter size: 8–64 covers most needs." })}
        {numField("validationSplit", "Validation split", { min: 0, max: 0.5, step: 0.01, help: "Held-out fraction: validation loss while training, prompts for the judge after." })}
      </div>
      <details className="advanced">
        <summary>Advanced settings</summary>
        <div className="grid2">
          {numField("gradientAccumulation", "Gradient accumulation", { min: 1, step: 1 })}
          {numField("maxSteps", "Max steps (empty: by epochs)", { min: 1, step: 1 })}
          {d.finetune !== "full" && numField("loraAlpha", "LoRA alpha", { min: 1 })}
          {numField("warmupRatio", "Warmup ratio", { min: 0, max: 1 })}
          {numField("checkpointEvery", "Checkpoint every N steps", { min: 1, step: 1 })}
          {numField("seed", "Seed", { min: 0, step: 1 })}
          <div className="field">
            <label htmlFor="f-scheduler">Schedule</label>
            <select id="f-scheduler" value={d.scheduler} onChange={(e) => update({ scheduler: e.target.value as Draft["scheduler"] })}>
              {["cosine", "linear", "wsd", "constant"].map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </div>
          <label className="choice">
            <input type="checkbox" checked={d.gradientCheckpointing} onChange={(e) => update({ gradientCheckpointing: e.target.checked })} /> Gradient checkpointing (less memory, ~30% slower)
          </label>
        </div>
      </details>
      <section className="estimate" aria-label="Estimate">
        <h3>Estimate</h3>
        <p>
          {steps != null ? `At most ${steps} optimizer steps` : "Steps: after the data step"}
          {tokens ? ` · ${num(tokens.tokens_per_epoch * d.epochs)} tokens` : ""}
          {seconds != null ? ` · about ${duration(seconds)} at the ${plan?.measured ? "measured" : "guessed"} ${num(tps!)} tokens/s` : ""}
        </p>
        {plan && (
          <>
            <p data-testid="plan">
              Peak memory about <strong>{gib(plan.estimate.total)}</strong> of {gib(plan.device.memoryBytes)} on {plan.device.name} ({num(plan.estimate.trainable)} trainable parameters).
            </p>
            {!plan.fits && (
              <div role="alert" className="warn">
                This configuration will not fit.{" "}
                {plan.suggestions.length > 0 && `Try: ${plan.suggestions.map((s) => `${s.change} (${gib(s.total)})`).join("; ")}.`}
              </div>
            )}
            {plan.fits && plan.near_limit && <p className="warn">Close to the limit: training starts with a short preflight step to confirm it fits.</p>}
          </>
        )}
        {planError && <p className="muted">No estimate: {planError}</p>}
      </section>
    </>
  );
}
