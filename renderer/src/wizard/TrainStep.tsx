/** Step 5: start the run and watch it. The run lives in the engine: a reload finds it again. */
import { useState } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { draftToConfig, startFromRun } from "../lib/draft";
import { lineageText } from "./StartFromPicker";
import { RunDashboard } from "../runs/RunDashboard";
import { ErrorBox } from "../components/ErrorBox";

export function TrainStep() {
  const client = useClient();
  const runId = useAppStore((s) => s.draft.runId);
  const initFrom = useAppStore((s) => s.draft.initFrom);
  const run = useAppStore((s) => (s.draft.runId ? s.runs[s.draft.runId] : undefined));
  const modelPath = useAppStore((s) => s.draft.modelPath);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const [starting, setStarting] = useState(false);

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

  if (!runId)
    return (
      <>
        <p>
          Everything is set{initFrom ? <> to continue from run {lineageText(initFrom)}</> : ""}. Training writes checkpoints as it goes; you can close the window and come back.
        </p>
        <button type="button" className="primary" onClick={start} disabled={starting}>
          {starting ? "Starting…" : "Start training"}
        </button>
        <ErrorBox error={error} />
      </>
    );
  return (
    <>
      <RunDashboard runId={runId} />
      <div className="row">
        <button type="button" onClick={() => useAppStore.getState().updateDraft({ runId: null })}>
          Train again with these settings
        </button>
        {run && startFromRun(run, modelPath) && (
          <button type="button" onClick={() => useAppStore.getState().chainFromRun(startFromRun(run, modelPath)!)}>
            New run from this one
          </button>
        )}
      </div>
    </>
  );
}
