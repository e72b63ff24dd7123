/** The fine-tuning wizard: seven steps, each validated before Next; the draft survives reloads. */
import { useAppStore } from "../store/store";
import { STEPS, stepProblems, type StepId } from "../lib/draft";
import { ModelStep } from "./ModelStep";
import { DataStep } from "./DataStep";
import { MethodStep } from "./MethodStep";
import { SettingsStep } from "./SettingsStep";
import { TrainStep } from "./TrainStep";
import { EvaluateStep } from "./EvaluateStep";
import { ExportStep } from "./ExportStep";

const TITLES: Record<StepId, string> = {
  model: "Base model",
  data: "Data",
  method: "Method",
  settings: "Settings",
  train: "Train",
  evaluate: "Evaluate",
  export: "Export",
};

export function Wizard({ home }: { home: string | null }) {
  const step = useAppStore((s) => s.step);
  const draft = useAppStore((s) => s.draft);
  const trainable = useAppStore((s) => s.report?.trainable ?? false);
  const dataKind = useAppStore((s) => s.report?.kind ?? null);
  const runState = useAppStore((s) => (s.draft.runId ? s.runs[s.draft.runId]?.state : undefined));
  const setStep = useAppStore((s) => s.setStep);
  const at = STEPS.indexOf(step);
  const problems = stepProblems(step, draft, { dataTrainable: trainable, dataKind });
  if (step === "train" && runState !== "completed") problems.push(draft.runId ? "Wait for the run to complete." : "Start training first.");
  // A step is reachable when every step before it is done.
  const reachable = (i: number) => STEPS.slice(0, i).every((s) => stepProblems(s, draft, { dataTrainable: trainable, dataKind }).length === 0) && (i <= 4 || runState === "completed");

  return (
    <div className="wizard">
      <nav aria-label="Wizard steps">
        <ol className="steps">
          {STEPS.map((s, i) => (
            <li key={s}>
              <button type="button" aria-current={s === step ? "step" : undefined} disabled={!reachable(i)} onClick={() => setStep(s)}>
                <span className="n">{i + 1}</span> {TITLES[s]}
              </button>
            </li>
          ))}
        </ol>
      </nav>
      <section className="step" aria-labelledby="step-title">
        <h2 id="step-title">
          {at + 1}. {TITLES[step]}
        </h2>
        {step === "model" && <ModelStep />}
        {step === "data" && <DataStep />}
        {step === "method" && <MethodStep />}
        {step === "settings" && <SettingsStep />}
        {step === "train" && <TrainStep />}
        {step === "evaluate" && <EvaluateStep />}
        {step === "export" && <ExportStep home={home} />}
        <footer className="step-nav">
          <button type="button" onClick={() => setStep(STEPS[at - 1]!)} disabled={at === 0}>
            Back
          </button>
          {problems.length > 0 && step !== "train" && (
            <ul className="problems" aria-live="polite">
              {problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          )}
          {at < STEPS.length - 1 ? (
            <button type="button" className="primary" onClick={() => setStep(STEPS[at + 1]!)} disabled={problems.length > 0}>
              Next
            </button>
          ) : (
            <button type="button" onClick={() => useAppStore.getState().resetDraft()}>
              Start a new run
            </button>
          )}
        </footer>
      </section>
    </div>
  );
}
