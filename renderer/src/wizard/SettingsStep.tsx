/**
 * Step 4: hyperparameters, derived from the model and the data, with the engine's run plan made
 * against the data's real token counts: memory against the device, time, the changes that make it
 * fit (buttons that apply them), and an explicit "train anyway" when it will not.
 */
import { useMemo } from "react";
import { useAppStore } from "../store/store";
import { suggestSettings } from "../lib/suggest";
import { draftToConfig, type Draft } from "../lib/draft";
import { duration, gib, num } from "../lib/format";
import type { RunPlan } from "../store/checks-slice";
import { GpusField } from "./GpusField";

export function SettingsStep() {
  const d = useAppStore((s) => s.draft);
  const report = useAppStore((s) => (s.report?.path === s.draft.dataPath ? s.report : null));
  const update = useAppStore((s) => s.updateDraft);
  const suggested = useMemo(() => suggestSettings(d, report), [d, report]);
  const config = JSON.stringify(draftToConfig(d));
  // The plan is made in the background (useDraftChecks) for the config as it is now; an older one is not shown as this one's.
  const plan = useAppStore((s) => (s.plan?.config === config ? s.plan.result : null));
  const planError = useAppStore((s) => (s.planError?.config === config ? s.planError.message : null));

  const tokens = report?.stats.tokens;
  // Packing puts several samples in a row, so the epoch count is an upper bound; max_steps caps it.
  const byEpochs = report ? Math.ceil(report.stats.samples / (d.microBatchSize * d.gradientAccumulation)) * d.epochs : null;
  const steps = d.maxSteps ?? byEpochs;
  // A throughput measured by an earlier run of this model and method on this device beats the FLOPs guess.
  const tps = plan?.measured?.tokensPerSecond ?? plan?.tokensPerSecondGuess ?? null;
  const byEpochsSeconds = plan?.secondsPerEpoch != null ? plan.secondsPerEpoch * d.epochs : tokens && tps ? (tokens.tokens_per_epoch * d.epochs) / tps : null;
  // Max steps stops the run early: the time shrinks with the share of the steps it keeps.
  const seconds = byEpochsSeconds != null && d.maxSteps != null && byEpochs ? byEpochsSeconds * Math.min(1, d.maxSteps / byEpochs) : byEpochsSeconds;

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
          Suggested for {report ? `${report.stats.samples} samples` : "this data"}: {suggested.epochs} epochs, learning rate {suggested.learningRate}, max length {suggested.maxLength}, validation split {suggested.validationSplit}.
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
        <GpusField />
      </div>
      <details className="advanced">
        <summary>Advanced settings</summary>
        <div className="grid2">
          {numField("gradientAccumulation", "Gradient accumulation", { min: 1, step: 1 })}
          {numField("maxSteps", "Max steps (empty: by epochs)", { min: 1, step: 1 })}
          {d.finetune !== "full" && numField("loraAlpha", "LoRA alpha", { min: 1 })}
          {d.finetune !== "full" && (
            <div className="field">
              <label htmlFor="f-loraVariant">LoRA kind</label>
              <select id="f-loraVariant" value={d.loraVariant ?? "lora"} onChange={(e) => update({ loraVariant: e.target.value as Draft["loraVariant"] })}>
                <option value="lora">LoRA</option>
                <option value="dora">DoRA: closer to full fine-tuning, ~1.3× slower steps</option>
                <option value="rslora">rsLoRA: keeps high ranks (64+) learning</option>
              </select>
              <small>{d.initFrom?.kind === "adapter" && d.loraVariant === "dora" ? "A run that starts from another run's adapter cannot use DoRA: choose LoRA or rsLoRA." : "All three export and merge the same way."}</small>
            </div>
          )}
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
        {plan && <PlanView plan={plan} config={config} />}
        {!plan && !planError && <p className="muted">Estimating…</p>}
        {planError && <p className="muted">No estimate yet: {planError}</p>}
      </section>
    </>
  );
}

/** The plan's memory verdict, what the data says about max length, and the changes that make it fit (click to apply). */
function PlanView({ plan, config }: { plan: RunPlan; config: string }) {
  const d = useAppStore((s) => s.draft);
  const update = useAppStore((s) => s.updateDraft);
  const apply = (a: RunPlan["suggestions"][number]["apply"]) =>
    update({
      ...(a.gradient_checkpointing !== undefined ? { gradientCheckpointing: a.gradient_checkpointing } : {}),
      ...(a.micro_batch_size !== undefined ? { microBatchSize: a.micro_batch_size } : {}),
      ...(a.gradient_accumulation !== undefined ? { gradientAccumulation: a.gradient_accumulation } : {}),
      ...(a.finetune ? { finetune: a.finetune, learningRate: 2e-4 } : {}),
      ...(a.max_length !== undefined ? { maxLength: a.max_length } : {}),
    });
  // Training on several devices: the estimate is one GPU's (on the CPU, one of the processes that share its memory).
  const several = plan.devices > 1;
  const gpus = plan.device.kind === "cuda";
  // The smallest power of two that holds the longest sample (the step's own rounding of lengths).
  const fitted = plan.data ? Math.max(16, 2 ** Math.ceil(Math.log2(Math.max(plan.data.longest, 16)))) : d.maxLength;
  return (
    <>
      <p data-testid="plan">
        Peak memory about <strong>{gib(plan.estimate.total)}</strong>
        {several ? (gpus ? " per GPU" : " per process") : ""} of {gib(plan.device.memoryBytes)} on {several && gpus ? `each of ${plan.devices} × ` : ""}
        {plan.device.name}
        {several && !gpus ? `, shared by ${plan.devices} processes` : ""} ({num(plan.estimate.trainable)} trainable parameters
        {plan.data ? `, rows of up to ${num(plan.data.sequence_length)} tokens as the data fills them` : ""}).
      </p>
      {plan.data?.max_length_beyond_longest && fitted < d.maxLength && (
        <p className="warn" data-testid="beyond-longest">
          The longest sample has {num(plan.data.longest)} tokens: a max length above {num(fitted)} only reserves memory no sample uses.{" "}
          <button type="button" onClick={() => update({ maxLength: fitted })}>
            Set max length to {num(fitted)}
          </button>
        </p>
      )}
      {!plan.fits && (
        <div role="alert" className="warn" data-testid="no-fit">
          <p>This configuration will not fit in memory.{plan.suggestions.length > 0 ? " Any one of these changes makes it fit:" : " No single change makes it fit: choose a smaller model, or LoRA instead of full fine-tuning."}</p>
          <ul className="suggestions">
            {plan.suggestions.map((s) => (
              <li key={s.change}>
                <button type="button" onClick={() => apply(s.apply)}>
                  {s.words}
                </button>{" "}
                <span className="muted">about {gib(s.total)}</span>
              </li>
            ))}
          </ul>
          <label className="choice">
            <input type="checkbox" checked={d.trainAnyway === config} onChange={(e) => update({ trainAnyway: e.target.checked ? config : null })} />
            <span>Train anyway (the estimate may be pessimistic; training stops with an out-of-memory error if it is not)</span>
          </label>
        </div>
      )}
      {plan.fits && plan.near_limit && <p className="warn">Close to the limit: training starts with a short preflight step to confirm it fits.</p>}
    </>
  );
}
