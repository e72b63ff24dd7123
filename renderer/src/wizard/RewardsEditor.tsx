/**
 * GRPO's rewards: how each answer the model samples is scored, as a list the user edits in words
 * (the config's `rewards`: engine/config/schema.ts RewardSchema). An answer's reward is the weighted
 * sum; a Python reward file runs only once the user says they trust it.
 */
import { useEffect, useState } from "react";
import { useAppStore } from "../store/store";
import { useClient } from "../client/context";
import { DEFAULT_REWARDS, type RewardDraft } from "../lib/draft";

const KINDS: Record<RewardDraft["type"], [string, string]> = {
  exact_match: ["Exact answer", "1 when the answer in the reply equals the row's field (case ignored), else 0."],
  numeric: ["Number", "1 when the reply's number equals the row's field (GSM8K's “#### 72” counts as 72), else 0."],
  format: ["Format", "1 when the reply matches a pattern (e.g. it shows its work between tags), else 0."],
  length: ["Length penalty", "Takes points off replies longer than a limit, in proportion to the excess."],
  judge: ["Judge against a reference", "The judge model compares the reply with the row's reference answer: 1 when it prefers the reply, 0.5 for a tie, 0 when it prefers the reference."],
  python: ["Your Python function", "Your own scoring code: def reward(prompts, completions, **fields) returns one number per reply."],
};

/** A new reward of a kind, with what that kind needs filled in. */
function fresh(type: RewardDraft["type"], weight: number | undefined): RewardDraft {
  const w = weight === undefined ? {} : { weight };
  if (type === "exact_match" || type === "numeric") return { type, field: "answer", ...w };
  if (type === "format") return { type, pattern: "<answer>.*</answer>", ...w };
  if (type === "length") return { type, max_chars: 400, ...w };
  if (type === "judge") return { type, field: "reference", ...w };
  return { type, file: "", trust_code: false, ...w };
}

/**
 * The rows that lack a field the rewards compare with, asked of the engine as the rewards change (the
 * same check that would refuse the run at Start): a sentence per field, or nothing.
 */
function useMissingFields(rewards: RewardDraft[]): string[] {
  const client = useClient();
  const path = useAppStore((s) => s.draft.dataPath);
  const fields = [...new Set(rewards.flatMap((r) => ("field" in r && r.field ? [r.field] : [])))];
  const key = JSON.stringify(fields);
  const [missing, setMissing] = useState<string[]>([]);
  useEffect(() => {
    if (!path || fields.length === 0) return setMissing([]);
    let live = true;
    const t = setTimeout(() => {
      client.inspectDataset({ path, method: "grpo", promptFields: fields }).then(
        (r) => {
          if (!live) return;
          const found = r.summary.filter((x) => x.code === "DATA_MISSING_FIELD" && fields.includes(x.first.field ?? ""));
          setMissing(found.map((x) => `${x.rows} of ${r.stats.rows} rows have no “${x.first.field}” field (first: line ${x.first.line ?? x.first.row}), which a reward compares the answers with: choose the column that holds the right answers.`));
        },
        () => live && setMissing([]),
      );
    }, 400);
    return () => {
      live = false;
      clearTimeout(t);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, path, key]);
  return missing;
}

export function RewardsEditor() {
  const rewards = useAppStore((s) => s.draft.rewards ?? DEFAULT_REWARDS);
  const update = useAppStore((s) => s.updateDraft);
  const missing = useMissingFields(rewards);
  const set = (i: number, r: RewardDraft) => update({ rewards: rewards.map((x, j) => (j === i ? r : x)) });
  return (
    <fieldset aria-label="Rewards">
      <legend>Rewards</legend>
      <p className="muted">How each answer the model writes is scored. The model learns to write the answers that score above the others for the same prompt; an answer's score is the sum of its rewards, each times its weight.</p>
      {rewards.map((r, i) => (
        <div className="reward" key={i} role="group" aria-label={`Reward ${i + 1}`}>
          <div className="grid2">
            <div className="field">
              <label htmlFor={`reward-${i}-type`}>Reward {i + 1}: kind</label>
              <select id={`reward-${i}-type`} value={r.type} onChange={(e) => set(i, fresh(e.target.value as RewardDraft["type"], r.weight))}>
                {Object.entries(KINDS).map(([k, [label]]) => (
                  <option key={k} value={k}>
                    {label}
                  </option>
                ))}
              </select>
              <small>{KINDS[r.type][1]}</small>
            </div>
            <div className="field">
              <label htmlFor={`reward-${i}-weight`}>Weight</label>
              <input id={`reward-${i}-weight`} type="number" step={0.1} min={-100} max={100} value={r.weight ?? 1} onChange={(e) => set(i, { ...r, weight: e.target.value === "" ? undefined : Number(e.target.value) })} />
              <small>How much this reward counts; negative for a penalty.</small>
            </div>
            {r.type === "judge" && (
              <div className="field">
                <label htmlFor={`reward-${i}-field`}>Field with the reference answer</label>
                <input id={`reward-${i}-field`} value={r.field ?? "reference"} spellCheck={false} onChange={(e) => set(i, { ...r, field: e.target.value })} />
                <small>The column of your data with a good answer to compare with; for conversations, their last reply.</small>
              </div>
            )}
            {(r.type === "exact_match" || r.type === "numeric") && (
              <div className="field">
                <label htmlFor={`reward-${i}-field`}>Field with the expected answer</label>
                <input id={`reward-${i}-field`} value={r.field} spellCheck={false} onChange={(e) => set(i, { ...r, field: e.target.value })} />
                <small>The column of your data that holds the right answer (every row needs it).</small>
              </div>
            )}
            {(r.type === "exact_match" || r.type === "numeric" || r.type === "format") && (
              <div className="field">
                <label htmlFor={`reward-${i}-pattern`}>{r.type === "format" ? "Pattern the reply must match" : "Where the answer is in the reply (optional)"}</label>
                <input id={`reward-${i}-pattern`} value={r.pattern ?? ""} spellCheck={false} placeholder={r.type === "numeric" ? "the reply's last number" : r.type === "exact_match" ? "the whole reply" : ""} onChange={(e) => set(i, { ...r, pattern: e.target.value === "" ? undefined : e.target.value } as RewardDraft)} />
                <small>A Python regular expression{r.type === "format" ? "" : "; its first group is the answer"}.</small>
              </div>
            )}
            {r.type === "length" && (
              <div className="field">
                <label htmlFor={`reward-${i}-chars`}>Longest reply without a penalty (characters)</label>
                <input id={`reward-${i}-chars`} type="number" min={1} value={r.max_chars} onChange={(e) => set(i, { ...r, max_chars: Math.max(1, Number(e.target.value) || 1) })} />
              </div>
            )}
            {r.type === "python" && (
              <>
                <div className="field">
                  <label htmlFor={`reward-${i}-file`}>Python file</label>
                  <input id={`reward-${i}-file`} value={r.file} spellCheck={false} placeholder="/path/to/rewards.py" onChange={(e) => set(i, { ...r, file: e.target.value })} />
                  <small>The file on this computer that defines the function.</small>
                </div>
                <label className="choice">
                  <input type="checkbox" checked={r.trust_code ?? false} onChange={(e) => set(i, { ...r, trust_code: e.target.checked })} />
                  <span>
                    <strong>I trust this file</strong> Its code runs with your rights while training, like any program you start: only use files you wrote or checked.
                  </span>
                </label>
              </>
            )}
          </div>
          {rewards.length > 1 && (
            <button type="button" className="link" onClick={() => update({ rewards: rewards.filter((_, j) => j !== i) })}>
              Remove reward {i + 1}
            </button>
          )}
        </div>
      ))}
      {missing.map((m) => (
        <p key={m} role="alert" className="warn" data-testid="reward-fields">
          {m}
        </p>
      ))}
      <button type="button" onClick={() => update({ rewards: [...rewards, fresh("format", 0.5)] })}>
        Add a reward
      </button>
    </fieldset>
  );
}
