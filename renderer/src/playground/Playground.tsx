/** Chat with a run's base and tuned models side by side; answers stream in as token events arrive. */
import { useState } from "react";
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { ErrorBox } from "../components/ErrorBox";
import type { Side } from "../store/evaluation-slice";

interface Turn {
  role: "user" | "assistant";
  content: string;
}
const SIDES: Side[] = ["base", "tuned"];

export function Playground() {
  const client = useClient();
  const runs = useAppStore(useShallow((s) => Object.values(s.runs).filter((r) => r.state === "completed").sort((a, b) => b.created_at.localeCompare(a.created_at))));
  const [runId, setRunId] = useState<string>("");
  const id = runId || runs[0]?.id || "";
  const stream = useAppStore((s) => s.streams[id]);
  const progress = useAppStore((s) => s.progress[id]);
  const [history, setHistory] = useState<Record<Side, Turn[]>>({ base: [], tuned: [] });
  const [input, setInput] = useState("");
  const [temperature, setTemperature] = useState(0.7);
  const [maxNewTokens, setMaxNewTokens] = useState(256);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);

  const send = async () => {
    if (!id || !input.trim()) return;
    const s = useAppStore.getState();
    const next = { base: [...history.base, { role: "user" as const, content: input }], tuned: [...history.tuned, { role: "user" as const, content: input }] };
    setHistory(next);
    setInput("");
    setBusy(true);
    setError(null);
    s.resetStream(id);
    try {
      // Each side continues its own conversation. On the first turn both share the prompt: one
      // request streams both at once; later turns differ, one request per side (the engine runs
      // one generation per run at a time).
      const first = history.base.length === 0;
      const requests = first ? [SIDES] : SIDES.map((side) => [side]);
      for (const sides of requests) {
        const r = await client.generate({ id, prompts: [next[sides[0]!]], sides, stream: true, temperature, maxNewTokens });
        setHistory((h) => {
          const out = { ...h };
          for (const side of sides) out[side] = [...next[side], { role: "assistant", content: r.outputs[side]?.[0]?.text ?? "" }];
          return out;
        });
      }
      s.resetStream(id);
    } catch (e) {
      setError(errorInfo(e));
    } finally {
      setBusy(false);
    }
  };

  if (runs.length === 0) return <p>The playground needs a completed run: train one in the wizard first.</p>;
  return (
    <section aria-labelledby="pg-title" className="playground">
      <div className="row">
        <h2 id="pg-title">Playground</h2>
        <label>
          Run{" "}
          <select value={id} onChange={(e) => (setRunId(e.target.value), setHistory({ base: [], tuned: [] }))}>
            {runs.map((r) => (
              <option key={r.id} value={r.id}>
                {r.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Temperature <input type="number" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(Number(e.target.value))} aria-label="Temperature" />
        </label>
        <label>
          Max tokens <input type="number" min={1} value={maxNewTokens} onChange={(e) => setMaxNewTokens(Math.max(1, Number(e.target.value) || 1))} aria-label="Max tokens" />
        </label>
        <button type="button" onClick={() => setHistory({ base: [], tuned: [] })} disabled={busy}>
          Clear
        </button>
      </div>
      <div className="sides">
        {SIDES.map((side) => (
          <div key={side} className="chat" aria-label={`${side} model`} aria-live="polite">
            <h3>{side === "base" ? "Base model" : "Tuned model"}</h3>
            {history[side].map((t, i) => (
              <p key={i} className={`msg ${t.role}`}>
                {t.content}
              </p>
            ))}
            {busy && history[side].at(-1)?.role === "user" && (
              <p className="msg assistant streaming">
                {stream?.[side]?.[0] ?? <span className="muted" data-testid="loading-model">{progress?.message ? `Loading the model… ${progress.message}` : "Loading the model…"}</span>}
              </p>
            )}
          </div>
        ))}
      </div>
      <ErrorBox error={error} />
      <form
        className="row composer"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea aria-label="Message" value={input} onChange={(e) => setInput(e.target.value)} rows={2} onKeyDown={(e) => e.key === "Enter" && !e.shiftKey && (e.preventDefault(), void send())} />
        <button type="submit" className="primary" disabled={busy || !input.trim()}>
          Send
        </button>
        {busy && (
          <button type="button" className="danger" onClick={() => client.cancelTask({ id, kind: "generate" })}>
            Stop
          </button>
        )}
      </form>
    </section>
  );
}
