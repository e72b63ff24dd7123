/** An engine error as the app says it: a title and what to do (lib/error-wording.ts), then the engine's facts. */
import { useAppStore } from "../store/store";
import { describeError } from "../lib/messages";

export function ErrorBox({ error }: { error: { code: string; message: string; hint?: string } | null | undefined }) {
  const dataPath = useAppStore((s) => s.draft.dataPath);
  const dataName = useAppStore((s) => s.draft.dataName);
  if (!error) return null;
  const shown = describeError(error, dataPath && dataName ? { [dataPath]: dataName } : {});
  return (
    <div role="alert" className="error-box" data-code={shown.code}>
      <strong>{shown.title}.</strong> {shown.message}
      <p className="hint">
        {shown.fix} <span className="muted small">({shown.code})</span>
      </p>
    </div>
  );
}
