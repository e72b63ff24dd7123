/**
 * Step 5: start the run and watch it, or try several settings as a sweep and go on with the judge's
 * pick. Runs and sweeps live in the engine: a reload finds them again.
 */
import { useState } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { draftToConfig, startFromRun } from "../lib/draft";
import { lineageText } from "./StartFromPicker";
import { RunDashboard } from "../runs/RunDashboard";
import { SweepView } from "../runs/SweepView";
import { ErrorBox } from "../components/ErrorBox";
import { SweepBuilder } from "./SweepBuilder";

export function TrainStep() {
  const client = useClient();
  const runId = useAppStore((s) => s.draft.runId);
  const sweepId = useAppStore((s) => s.draft.sweepId);
  const initFrom = useAppStore((s) => s.draft.initFrom);
  const run = useAppStore((s) => (s.draft.runId ? s.runs[s.draft.runId] : undefined));
  const modelPath = useAppStore((s) => s.draft.modelPath);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const [starting, setStarting] = useState(false);
  const [several, setSeveral] = useState(false);
  const { updateDraft } = useAppStore.getState();

  const start = async () => {
    setStarting(true);
    setError(null);
    try {
      const s = useAppStore.getState();
      const run = await client.createRun({ config: draftToConfig(s.draft) });
      s.upsertRun(run);
      s.updateDraft({ runId: run.id });
    } catch (e) {
      setError(errorInfo(e));
    } finally {
      setStarting(false);
    }
  };

  if (!runId && sweepId) return <SweepInWizard id={sweepId} />;
  if (!runId && several) return <SweepBuilder onClose={() => setSeveral(false)} />;
  if (!runId)
    return (
      <>
        <p>
          Everything is set{initFrom ? <> to continue from run {lineageText(initFrom)}</> : ""}. Training writes checkpoints as it goes; you can close the window and come back.
        </p>
        <div className="row">
          <button type="button" className="primary" onClick={start} disabled={starting}>
            {starting ? "Starting…" : "Start training"}
          </button>
          {client.has("startSweep") && (
            <button type="button" onClick={() => setSeveral(true)}>
              Try several settings
            </button>
          )}
        </div>
        <ErrorBox error={error} />
      </>
    );
  return (
    <>
      <RunDashboard runId={runId} />
      <div className="row">
        <button type="button" onClick={() => updateDraft({ runId: null, sweepId: null })}>
          Train again with these settings
        </button>
        {sweepId && (
          <button type="button" onClick={() => updateDraft({ runId: null })}>
            Back to the sweep
          </button>
        )}
        {run && startFromRun(run, modelPath) && (
          <button type="button" onClick={() => useAppStore.getState().chainFromRun(startFromRun(run, modelPath)!)}>
            New run from this one
          </button>
        )}
      </div>
    </>
  );
}

/** The sweep this draft started; once judged, the pick becomes the draft's run (evaluate it, export it). */
function SweepInWizard({ id }: { id: string }) {
  const best = useAppStore((s) => s.sweeps[id]?.selection?.best_run ?? null);
  const { updateDraft } = useAppStore.getState();
  return (
    <>
      <SweepView id={id} />
      <div className="row">
        {best && (
          <button type="button" className="primary" onClick={() => updateDraft({ runId: best })}>
            Go on with the best trial
          </button>
        )}
        <button type="button" onClick={() => updateDraft({ sweepId: null })}>
          Try other settings
        </button>
        {best && <span className="muted small">Evaluate and export the judge's pick in the next steps.</span>}
      </div>
    </>
  );
}
