/** The sweeps on the runs page, newest first: name, when, state, trials done, the pick; each opens its page. */
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "../store/store";
import { TableHead } from "../components/TableHead";

export function SweepsList() {
  const sweeps = useAppStore(useShallow((s) => Object.values(s.sweeps).sort((a, b) => b.created_at.localeCompare(a.created_at))));
  const error = useAppStore((s) => s.sweepsError);
  const { navigate } = useAppStore.getState();
  if (sweeps.length === 0 && !error) return null;
  return (
    <section aria-labelledby="sweeps-title">
      <h3 id="sweeps-title">Sweeps</h3>
      {error && <p role="alert">{error}</p>}
      <table className="sweeps">
        <TableHead columns={["Name", "Created", "State", "Trials", "Best"]} />
        <tbody>
          {sweeps.map((s) => {
            const done = s.trials.filter((t) => !["pending", "running", "paused"].includes(t.state)).length;
            return (
              <tr key={s.id}>
                <td>
                  <button type="button" className="link" onClick={() => navigate({ name: "sweep", id: s.id })} aria-label={`Sweep ${s.name} (${s.id})`}>
                    {s.name}
                  </button>
                  <div className="muted small">
                    <code>{s.id}</code>
                  </div>
                </td>
                <td>
                  <time dateTime={s.created_at}>{new Date(s.created_at).toLocaleString()}</time>
                </td>
                <td>
                  <span className={`state ${s.state}`}>{s.state}</span>
                </td>
                <td>
                  {done}/{s.trials.length}
                </td>
                <td>{s.selection?.best_trial != null ? `trial ${s.selection.best_trial}` : "–"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
