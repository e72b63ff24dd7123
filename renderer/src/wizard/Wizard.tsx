/**
 * The fine-tuning wizard: seven steps, each checked before Next. The draft and the engine's last
 * answers about it survive a reload; while a check runs again the step says "checking…" and
 * stays reachable, instead of greying out or showing an error that is not true.
 */
import { useEffect, useRef } from "react";
import { useShallow } from "zustand/react/shallow";
import { useAppStore, type AppState } from "../store/store";
import { STEPS, startFromRun, stepState, type StepContext, type StepId } from "../lib/draft";
import { useDraftChecks } from "./use-draft-checks";
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

export const stepContext = (s: Pick<AppState, "modelCheck" | "checkingModel" | "report" | "reportError" | "inspecting" | "plan">): StepContext => ({
  modelCheck: s.modelCheck,
  checkingModel: s.checkingModel,
  report: s.report,
  reportError: s.reportError,
  inspecting: s.inspecting,
  plan: s.plan ? { fits: s.plan.result.fits, config: s.plan.config } : null,
});

export function Wizard({ home }: { home: string | null }) {
  useDraftChecks();
  const step = useAppStore((s) => s.step);
  const state = useAppStore(
    useShallow((s) => ({ draft: s.draft, modelCheck: s.modelCheck, checkingModel: s.checkingModel, report: s.report, reportError: s.reportError, inspecting: s.inspecting, plan: s.plan })),
  );
  const draft = state.draft;
  const runState = useAppStore((s) => (s.draft.runId ? s.runs[s.draft.runId]?.state : undefined));
  const setStep = useAppStore((s) => s.setStep);
  const at = STEPS.indexOf(step);
  const ctx = stepContext(state);
  const { problems, checking } = stepState(step, draft, ctx);
  if (step === "train" && runState !== "completed") problems.push(draft.runId ? "Wait for the run to complete." : "Start training first.");
  // A step is reachable when every step before it is done or still being checked again.
  const reachable = (i: number) => STEPS.slice(0, i).every((s) => stepState(s, draft, ctx).problems.length === 0) && (i <= 4 || runState === "completed");

  // After Next, Back or a step button, focus goes to the new step's heading (screen readers read it; Tab goes on from there).
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    heading.current?.focus();
  }, [step]);

  return (
    <div className="wizard">
      <nav aria-label="Wizard steps">
        <ol className="steps">
          {STEPS.map((s, i) => (
            <li key={s}>
              <button type="button" aria-current={s === step ? "step" : undefined} disabled={!reachable(i) && s !== step} onClick={() => setStep(s)}>
                <span className="n">{i + 1}</span> {TITLES[s]}
              </button>
            </li>
          ))}
        </ol>
      </nav>
      <section className="step" aria-labelledby="step-title">
        <h2 id="step-title" tabIndex={-1} ref={heading}>
          {at + 1}. {TITLES[step]}
        </h2>
        {step === "model" && <ModelStep />}
        {step === "data" && <DataStep home={home} />}
        {step === "method" && <MethodStep />}
        {step === "settings" && <SettingsStep />}
        {step === "train" && <TrainStep />}
        {step === "evaluate" && <EvaluateStep />}
        {step === "export" && <ExportStep home={home} />}
        <footer className="step-nav">
          <button type="button" onClick={() => setStep(STEPS[at - 1]!)} disabled={at === 0}>
            Back
          </button>
          {checking && problems.length === 0 && (
            <p className="checking muted" aria-live="polite" data-testid="checking">
              {checking}
            </p>
          )}
          {problems.length > 0 && step !== "train" && (
            <ul className="problems" aria-live="polite">
              {problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          )}
          {at < STEPS.length - 1 ? (
            <button type="button" className="primary" onClick={() => setStep(STEPS[at + 1]!)} disabled={problems.length > 0 || checking !== null}>
              Next
            </button>
          ) : (
            <NewRunButtons />
          )}
        </footer>
      </section>
    </div>
  );
}

/** At the end of the journey: chain a run from this one (same model and settings, its weights as the start), or start afresh. */
function NewRunButtons() {
  const run = useAppStore((s) => (s.draft.runId ? s.runs[s.draft.runId] : undefined));
  const modelPath = useAppStore((s) => s.draft.modelPath);
  const { chainFromRun, resetDraft } = useAppStore.getState();
  const from = run ? startFromRun(run, modelPath) : null;
  return (
    <span className="row">
      {from && (
        <button type="button" className="primary" onClick={() => chainFromRun(from)}>
          New run from this one
        </button>
      )}
      <button type="button" onClick={() => resetDraft()}>
        Start a new run
      </button>
    </span>
  );
}
