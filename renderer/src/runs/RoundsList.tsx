/** The round loops on the runs page, newest first: name, when, state, rounds judged, the best round; each opens its page. */
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "../store/store";
import { TableHead } from "../components/TableHead";
import { loopNow } from "../lib/rounds";

export function RoundsList() {
  const loops = useAppStore(useShallow((s) => Object.values(s.roundLoops).sort((a, b) => b.created_at.localeCompare(a.created_at))));
  const error = useAppStore((s) => s.roundLoopsError);
  const { navigate } = useAppStore.getState();
  if (loops.length === 0 && !error) return null;
  return (
    <section aria-labelledby="rounds-list-title">
      <h3 id="rounds-list-title">Self-improving rounds</h3>
      {error && <p role="alert">{error}</p>}
      <table className="sweeps" data-testid="rounds-list">
        <TableHead columns={["Name", "Created", "State", "Rounds judged", "Best"]} />
        <tbody>
          {loops.map((l) => {
            const now = loopNow(l);
            return (
              <tr key={l.id}>
                <td>
                  <button type="button" className="link" onClick={() => navigate({ name: "rounds", id: l.id })} aria-label={`Rounds ${l.name} (${l.id})`}>
                    {l.name}
                  </button>
                  <div className="muted small">
                    <code>{l.id}</code>
                  </div>
                </td>
                <td>
                  <time dateTime={l.created_at}>{new Date(l.created_at).toLocaleString()}</time>
                </td>
                <td>
                  <span className={`state ${l.state}`}>{l.state}</span>
                  {now && <div className="muted small">{now.text}</div>}
                </td>
                <td>
                  {l.rounds.filter((r) => r.state === "done").length}/{l.spec.rounds}
                </td>
                <td>{l.best_round !== null ? `round ${l.best_round}` : "–"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
