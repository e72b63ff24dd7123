/**
 * "Improve with rounds" on a finished run's page: the run's model writes training data, a run trains
 * on it from the run, and the judge says whether it got better; the rounds go on while they do. The
 * form asks how many rounds, how many rows each, the prompts and judge, and whether to add preference
 * training (DPO) after each round; Start opens the rounds' page.
 */
import { useState } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { ErrorBox } from "../components/ErrorBox";
import { DEFAULT_ROUNDS_FORM, roundsRequest, type RoundsForm } from "../lib/rounds";
import { JudgeFields, useJudgeChoice } from "../wizard/JudgeFields";

export function RoundsStarter({ run, config, onClose }: { run: { id: string; name: string; base: string }; config: Record<string, unknown>; onClose: () => void }) {
  const client = useClient();
  const [form, setForm] = useState<RoundsForm>(DEFAULT_ROUNDS_FORM);
  const [choice, setChoice] = useJudgeChoice();
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const validation = (config.data as { validation?: string | null } | undefined)?.validation ?? null;
  const { request, problems } = roundsRequest(form, choice, run, config);
  const set = (patch: Partial<RoundsForm>) => setForm((f) => ({ ...f, ...patch }));
  const start = async () => {
    setStarting(true);
    setError(null);
    try {
      const loop = await client.startRounds(request);
      const s = useAppStore.getState();
      s.upsertRoundLoop(loop);
      s.navigate({ name: "rounds", id: loop.id });
    } catch (e) {
      setError(errorInfo(e));
      setStarting(false);
    }
  };
  return (
    <section className="rounds-starter" aria-labelledby="rounds-starter-title">
      <h3 id="rounds-starter-title">Improve with rounds</h3>
      <p className="muted">
        Each round the current model writes new instructions and answers them, a run trains on what it wrote (round 1 from this run), and the judge compares the new model
        with the one before on prompts it never trains on. The rounds go on while each beats the one before.
      </p>
      <div className="grid2">
        <div className="field">
          <label htmlFor="rounds-count">Rounds at most</label>
          <input id="rounds-count" type="number" min={1} max={100} value={form.rounds} onChange={(e) => set({ rounds: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="rounds-rows">Rows each round</label>
          <input id="rounds-rows" type="number" min={1} value={form.rows} onChange={(e) => set({ rows: e.target.value })} />
          <small>Training conversations the model writes each round.</small>
        </div>
      </div>
      <label className="choice">
        <input type="checkbox" checked={form.dpo} onChange={(e) => set({ dpo: e.target.checked })} />
        <span>
          <strong>Then preference training (DPO) each round</strong>
          <br />
          <small className="muted">The model answers each instruction twice, the judge says which answer is better, and a second run learns to prefer it. About twice the time.</small>
        </span>
      </label>
      <JudgeFields
        id="rounds"
        value={choice}
        onChange={setChoice}
        promptsDefault={validation ?? "a prompt file is needed"}
        promptsHelp={`A prompt file (JSONL, a dataset, or .txt one a line), the same every round and never trained on${validation ? "; empty: the run's validation file" : ""}.`}
      />
      {problems.length > 0 && (
        <ul className="problems" aria-live="polite">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      <div className="row">
        <button type="button" className="primary" onClick={start} disabled={starting || problems.length > 0}>
          {starting ? "Starting…" : "Start the rounds"}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <ErrorBox error={error} />
    </section>
  );
}
