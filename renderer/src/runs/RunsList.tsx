/** Every run the engine knows, newest first (name, method, created, duration, state); tick runs to compare them on one chart. */
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "../store/store";
import { duration, num } from "../lib/format";
import { TableHead } from "../components/TableHead";
import type { RunStatus } from "../../../engine/api/public";
import { SweepsList } from "./SweepsList";
import { RoundsList } from "./RoundsList";

/** Training time: from start to finish, or to now while it runs. */
export function runDuration(r: Pick<RunStatus, "started_at" | "finished_at" | "state">, now = Date.now()): string {
  if (!r.started_at) return "–";
  const end = r.finished_at ? Date.parse(r.finished_at) : r.state === "running" ? now : null;
  return end === null ? "–" : duration((end - Date.parse(r.started_at)) / 1000);
}

export function RunsList() {
  const runs = useAppStore(useShallow((s) => Object.values(s.runs).sort((a, b) => b.created_at.localeCompare(a.created_at))));
  const compareIds = useAppStore((s) => s.compareIds);
  const error = useAppStore((s) => s.runsError);
  const hasSweeps = useAppStore((s) => Object.keys(s.sweeps).length > 0 || Object.keys(s.roundLoops).length > 0);
  const { navigate, toggleCompare } = useAppStore.getState();
  return (
    <section aria-labelledby="runs-title">
      <div className="row">
        <h2 id="runs-title">Runs</h2>
        <button type="button" disabled={compareIds.length < 2} onClick={() => navigate({ name: "compare" })}>
          Compare {compareIds.length > 0 ? `(${compareIds.length})` : ""}
        </button>
      </div>
      {error && <p role="alert">{error}</p>}
      <SweepsList />
      <RoundsList />
      {hasSweeps && <h3>All runs</h3>}
      {runs.length === 0 ? (
        <p>No runs yet. Start one in the wizard, or with <code>whetstone train examples/tiny-sft.yaml</code>.</p>
      ) : (
        <table className="runs">
          <TableHead columns={["Compare", "Name", "Method", "Created", "Duration", "State", "Step", "Loss"]} />
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <input type="checkbox" aria-label={`Compare ${r.id}`} checked={compareIds.includes(r.id)} onChange={() => toggleCompare(r.id)} />
                </td>
                <td>
                  <button type="button" className="link" onClick={() => navigate({ name: "run", id: r.id })} aria-label={`${r.name} (${r.id})`}>
                    {r.name}
                  </button>
                  <div className="muted small">
                    <code>{r.id}</code>
                    {r.parent?.run ? ` · from ${r.parent.run}` : ""}
                  </div>
                </td>
                <td>{r.method.toUpperCase()}</td>
                <td>
                  <time dateTime={r.created_at}>{new Date(r.created_at).toLocaleString()}</time>
                </td>
                <td>{runDuration(r)}</td>
                <td>
                  <span className={`state ${r.state}`}>{r.state}</span>
                  {r.state === "running" && r.eta_s != null && <div className="muted small">ETA {duration(r.eta_s)}</div>}
                </td>
                <td>
                  {r.step}/{r.total_steps ?? "?"}
                </td>
                <td>
                  {num(r.first_loss)} → {num(r.last_loss)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
