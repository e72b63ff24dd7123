/**
 * A run task's controls (an export, a push): its start button, disabled with the reason beside it
 * until the run allows it; its stop button while it runs; its progress and its error. The task's
 * state is the jobs slice's (useTask with the key `${kind}:${runId}`), its progress the run's.
 */
import type { TaskKind } from "../../../engine/api/public";
import { useClient } from "../client/context";
import { useTask } from "../client/use-task";
import { useAppStore } from "../store/store";
import { ErrorBox } from "./ErrorBox";
import { ProgressBar } from "./ProgressBar";

export interface TaskControlsProps {
  runId: string;
  kind: TaskKind;
  labels: { start: string; running: string; stop: string; progress: string };
  /** Why the run does not allow it yet (needsCompletedRun), or null. */
  gate: string | null;
  /** The form is not filled in yet (an empty field). */
  incomplete: boolean;
  onStart: () => void;
}

export function TaskControls({ runId, kind, labels, gate, incomplete, onStart }: TaskControlsProps) {
  const client = useClient();
  const progress = useAppStore((s) => s.progress[runId]);
  const { busy, error } = useTask(`${kind}:${runId}`);
  return (
    <>
      <div className="row">
        <button type="button" className="primary" onClick={onStart} disabled={busy || incomplete || gate !== null} aria-describedby={gate ? `${kind}-gate` : undefined}>
          {busy ? labels.running : labels.start}
        </button>
        {gate && !busy && (
          <span id={`${kind}-gate`} className="muted small">
            {gate}
          </span>
        )}
        {busy && (
          <button type="button" className="danger" onClick={() => void client.cancelTask({ id: runId, kind })}>
            {labels.stop}
          </button>
        )}
      </div>
      {busy && <ProgressBar progress={progress} label={labels.progress} />}
      <ErrorBox error={error} />
    </>
  );
}
