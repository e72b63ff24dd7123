/** Every run the engine knows, newest first; tick runs to compare them on one chart. */
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "../store/store";
import { duration, num } from "../lib/format";
import { TableHead } from "../components/TableHead";

export function RunsList() {
  const runs = useAppStore(useShallow((s) => Object.values(s.runs).sort((a, b) => b.created_at.localeCompare(a.created_at))));
  const compareIds = useAppStore((s) => s.compareIds);
  const error = useAppStore((s) => s.runsError);
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
      {runs.length === 0 ? (
        <p>No runs yet. Start one in the wizard, or with <code>whetstone train examples/tiny-sft.yaml</code>.</p>
      ) : (
        <table className="runs">
          <TableHead columns={["Compare", "Run", "Method", "State", "Step", "Loss", "ETA"]} />
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <input type="checkbox" aria-label={`Compare ${r.id}`} checked={compareIds.includes(r.id)} onChange={() => toggleCompare(r.id)} />
                </td>
                <td>
                  <button type="button" className="link" onClick={() => navigate({ name: "run", id: r.id })}>
                    {r.id}
                  </button>
                </td>
                <td>{r.method}</td>
                <td>
                  <span className={`state ${r.state}`}>{r.state}</span>
                </td>
                <td>
                  {r.step}/{r.total_steps ?? "?"}
                </td>
                <td>
                  {num(r.first_loss)} → {num(r.last_loss)}
                </td>
                <td>{r.state === "running" ? duration(r.eta_s) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
