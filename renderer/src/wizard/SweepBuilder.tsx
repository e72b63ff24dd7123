/**
 * "Try several settings": the grid of a sweep, as rows of a setting and the values to try, checked
 * as typed (lib/sweep.ts); the trial count; early stopping; a step budget; how many trials train at
 * once; how the best trial is picked. Start sends the wizard's config, the same one "Start training" sends, with the spec.
 */
import { useMemo, useState } from "react";
import { JudgeFields, useJudgeChoice } from "./JudgeFields";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { draftToConfig } from "../lib/draft";
import { checkGrid, firstRow, settingFor, settingsFor, type GridRow } from "../lib/sweep";
import { ErrorBox } from "../components/ErrorBox";
import type { EarlyStopRule, SweepSpec } from "../../../engine/api/public";

const EARLY_STOP: { rule: EarlyStopRule; label: string; help: string }[] = [
  { rule: "signals", label: "By training signals", help: "After a quarter of its steps, a trial whose loss runs away or looks worse than the trials before it stops. Needs nothing held out." },
  { rule: "val", label: "By validation loss", help: "The same, ranked by the loss on the held-out data." },
  { rule: "off", label: "Off", help: "Every trial trains to the end." },
];

export function SweepBuilder({ onClose }: { onClose: () => void }) {
  const client = useClient();
  const draft = useAppStore((s) => s.draft);
  const [rows, setRows] = useState<GridRow[]>(() => [firstRow(draft)]);
  const [earlyStop, setEarlyStop] = useState<EarlyStopRule>("signals");
  const [budget, setBudget] = useState("");
  const [parallel, setParallel] = useState<SweepSpec["parallel"]>("auto");
  const [choice, setChoice] = useJudgeChoice();
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);

  const offered = settingsFor(draft);
  const check = useMemo(() => checkGrid(rows, draft), [rows, draft]);
  const budgetSteps = budget.trim() === "" ? null : Number(budget);
  const problems = [
    ...(budgetSteps !== null && !(Number.isInteger(budgetSteps) && budgetSteps >= 1) ? ["The steps per trial must be a whole number, 1 or more (or empty)."] : []),
    ...(draft.validationSplit <= 0 && !choice.prompts.trim() ? ["The judge picks the best trial by its answers to prompts no trial trained on: set a validation split in Settings (e.g. 0.1), or give a prompt file below."] : []),
    ...(earlyStop === "val" && draft.validationSplit <= 0 ? ["Stopping by validation loss needs held-out data: set a validation split in Settings, or stop by training signals."] : []),
  ];

  const setRow = (i: number, patch: Partial<GridRow>) => setRows((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const unused = offered.filter((s) => !rows.some((r) => r.field === s.field));
  const start = async () => {
    setStarting(true);
    setError(null);
    try {
      const s = useAppStore.getState();
      const spec: Partial<SweepSpec> = { grid: check.grid, early_stop: earlyStop, budget_steps: budgetSteps, parallel, judge: choice.judge.trim() || null, prompts: choice.prompts.trim() || null, limit: choice.limit, max_new_tokens: choice.answerTokens };
      const sweep = await client.startSweep({ config: draftToConfig(s.draft), spec });
      s.upsertSweep(sweep);
      s.updateDraft({ sweepId: sweep.id, runId: null });
    } catch (e) {
      setError(errorInfo(e));
    } finally {
      setStarting(false);
    }
  };

  return (
    <section className="sweep-builder" aria-labelledby="sweep-builder-title">
      <h3 id="sweep-builder-title">Try several settings</h3>
      <p className="muted">Each combination of the values below trains as a run of its own, side by side when they fit on the device, else one after another; the judge then compares the finished ones and picks the best.</p>
      <table className="grid-rows">
        <thead>
          <tr>
            <th scope="col">Setting</th>
            <th scope="col">Values to try</th>
            <th scope="col">
              <span className="sr-only">Remove</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => {
            const setting = settingFor(row.field);
            const rowCheck = check.rows[i]!;
            const name = setting?.label ?? "the setting";
            return (
              <tr key={i}>
                <td>
                  <select aria-label={`Setting ${i + 1}`} value={row.field} onChange={(e) => setRow(i, { field: e.target.value })}>
                    {offered
                      .filter((s) => s.field === row.field || !rows.some((r) => r.field === s.field))
                      .map((s) => (
                        <option key={s.field} value={s.field}>
                          {s.label}
                        </option>
                      ))}
                  </select>
                </td>
                <td>
                  <input aria-label={`Values of ${name}`} aria-invalid={rowCheck.problems.length > 0} aria-describedby={`row-${i}-note`} value={row.text} placeholder={setting?.example} spellCheck={false} onChange={(e) => setRow(i, { text: e.target.value })} />
                  <div id={`row-${i}-note`} aria-live="polite">
                    {rowCheck.problems.length > 0 ? (
                      <ul className="row-problems">
                        {rowCheck.problems.map((p) => (
                          <li key={p}>{p}</li>
                        ))}
                      </ul>
                    ) : (
                      <small className="muted">
                        {rowCheck.values.length} value{rowCheck.values.length === 1 ? "" : "s"}. {setting?.help}
                      </small>
                    )}
                  </div>
                </td>
                <td>
                  <button type="button" aria-label={`Remove ${name}`} onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))} disabled={rows.length === 1}>
                    Remove
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="row">
        <button type="button" onClick={() => setRows((rs) => [...rs, { field: unused[0]!.field, text: "" }])} disabled={unused.length === 0}>
          Add a setting
        </button>
        <strong data-testid="trial-count" aria-live="polite">
          {rows.length > 1 && check.rows.every((c) => c.values.length > 0) ? `${check.rows.map((c) => c.values.length).join(" × ")} = ` : ""}
          {check.trials} trial{check.trials === 1 ? "" : "s"}
        </strong>
      </div>
      <fieldset>
        <legend>Early stopping</legend>
        {EARLY_STOP.map((o) => (
          <label key={o.rule} className="choice">
            <input type="radio" name="early-stop" value={o.rule} checked={earlyStop === o.rule} onChange={() => setEarlyStop(o.rule)} />
            <span>
              <strong>{o.label}</strong>
              <br />
              <small className="muted">{o.help}</small>
            </span>
          </label>
        ))}
      </fieldset>
      <div className="field">
        <label htmlFor="sweep-budget">Steps per trial (optional)</label>
        <input id="sweep-budget" type="number" min={1} step={1} value={budget} placeholder="as set" onChange={(e) => setBudget(e.target.value)} />
        <small>Each trial trains at most this many steps: a quick comparison before the long run. Empty: as in Settings.</small>
      </div>
      <div className="field">
        <label htmlFor="sweep-parallel">Trials at once</label>
        <select id="sweep-parallel" value={String(parallel)} onChange={(e) => setParallel(e.target.value === "auto" ? "auto" : Number(e.target.value))}>
          <option value="auto">As many as fit</option>
          <option value="1">One at a time</option>
          {[2, 3, 4].map((n) => (
            <option key={n} value={n}>
              At most {n}
            </option>
          ))}
        </select>
        <small>As many as fit: the memory plan of each trial against what the device has free decides, and on a processor without a graphics card each trial gets its share of the cores. The sweep's page says how many and why.</small>
      </div>
      <details className="advanced">
        <summary>How the best trial is picked</summary>
        <JudgeFields id="sweep" value={choice} onChange={setChoice} promptsDefault="the held-out split" />
      </details>
      {problems.length > 0 && (
        <ul className="problems" aria-live="polite">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      <div className="row">
        <button type="button" className="primary" onClick={start} disabled={starting || !check.ok || problems.length > 0}>
          {starting ? "Starting…" : `Start ${check.trials} trial${check.trials === 1 ? "" : "s"}`}
        </button>
        <button type="button" onClick={onClose}>
          Train once instead
        </button>
      </div>
      <ErrorBox error={error} />
    </section>
  );
}
