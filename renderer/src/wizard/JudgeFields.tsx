/**
 * The judge and the prompts it judges on, with their limits: the same fields wherever the app runs the
 * judge (an evaluation, a sweep's pick). `children` go on the limits' row (an Evaluate button).
 */
import { useState, type ReactNode } from "react";

export interface JudgeChoice {
  /** A local ONNX judge folder or an OpenAI-compatible URL; "": the default judge. */
  judge: string;
  /** A prompt file; "": the held-out split. */
  prompts: string;
  limit: number;
  answerTokens: number;
}

export function useJudgeChoice(): [JudgeChoice, (patch: Partial<JudgeChoice>) => void] {
  const [choice, setChoice] = useState<JudgeChoice>({ judge: "", prompts: "", limit: 200, answerTokens: 256 });
  return [choice, (patch) => setChoice((c) => ({ ...c, ...patch }))];
}

export function JudgeFields({ id, value, onChange, promptsDefault, promptsHelp = "A prompt file (JSONL, a dataset, or .txt one a line); empty: the validation split.", children }: { id: string; value: JudgeChoice; onChange: (patch: Partial<JudgeChoice>) => void; promptsDefault: string; promptsHelp?: string; children?: ReactNode }) {
  const count = (v: string) => Math.max(1, Number(v) || 1);
  return (
    <>
      <div className="grid2">
        <div className="field">
          <label htmlFor={`${id}-judge`}>Judge</label>
          <input id={`${id}-judge`} value={value.judge} onChange={(e) => onChange({ judge: e.target.value })} placeholder="default judge (downloaded once)" spellCheck={false} />
          <small>A local ONNX judge folder or an OpenAI-compatible URL; empty for the default judge.</small>
        </div>
        <div className="field">
          <label htmlFor={`${id}-prompts`}>Prompts</label>
          <input id={`${id}-prompts`} value={value.prompts} onChange={(e) => onChange({ prompts: e.target.value })} placeholder={promptsDefault} spellCheck={false} />
          <small>{promptsHelp}</small>
        </div>
      </div>
      <div className="row">
        <label>
          Prompts at most <input type="number" min={1} value={value.limit} onChange={(e) => onChange({ limit: count(e.target.value) })} aria-label="Prompt limit" />
        </label>
        <label>
          Answer tokens <input type="number" min={1} value={value.answerTokens} onChange={(e) => onChange({ answerTokens: count(e.target.value) })} aria-label="Answer tokens" />
        </label>
        {children}
      </div>
    </>
  );
}
