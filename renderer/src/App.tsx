import { useEffect } from "react";
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "./store/store";
import type { EngineClient } from "./client/engine-client";

/** The spine's UI: the runs the engine knows, live. The wizard is built on this client and store. */
export function App({ client }: { client: EngineClient }) {
  const runs = useAppStore(useShallow((s) => Object.values(s.runs).sort((a, b) => b.created_at.localeCompare(a.created_at))));
  const error = useAppStore((s) => s.runsError);

  useEffect(() => {
    const { setRuns, setRunsError, applyEvent } = useAppStore.getState();
    client.listRuns({}).then(setRuns, (e: Error) => setRunsError(e.message));
    return client.subscribe(applyEvent);
  }, [client]);

  return (
    <main>
      <h1>Whetstone</h1>
      <h2>Runs</h2>
      {error && <p role="alert">{error}</p>}
      {runs.length === 0 ? (
        <p>No runs yet. Start one with <code>whetstone train examples/tiny-sft.yaml</code>.</p>
      ) : (
        <table>
          <thead>
            <tr><th>Run</th><th>State</th><th>Step</th><th>Loss</th></tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>{r.id}</td>
                <td>{r.state}</td>
                <td>{r.step}/{r.total_steps ?? "?"}</td>
                <td>{r.last_loss?.toFixed(3) ?? "-"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
