/** The loss curves of the runs ticked in the runs list, on one chart. */
import { useEffect, useState } from "react";
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "../store/store";
import { useClient } from "../client/context";
import { LineChart } from "../components/LineChart";
import { series } from "../lib/downsample";
import { ErrorBox } from "../components/ErrorBox";
import { errorInfo } from "../client/context";
import { num } from "../lib/format";
import type { CompareReport } from "../../../engine/api/public";
import { TableHead } from "../components/TableHead";
import { JudgeTrust, weakestTrust } from "../wizard/JudgeTrust";

export function Compare() {
  const client = useClient();
  const ids = useAppStore((s) => s.compareIds);
  const metrics = useAppStore(useShallow((s) => ids.map((id) => s.metrics[id])));
  useEffect(() => {
    for (const id of ids) client.getMetrics({ id }).then((rows) => useAppStore.getState().setMetrics(id, rows as never), () => undefined);
  }, [client, ids]);
  const version = metrics.reduce((a, m) => a + (m?.version ?? 0), 0);
  const [judge, setJudge] = useState("");
  const [ranking, setRanking] = useState<CompareReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const judgeRuns = async () => {
    setBusy(true);
    setError(null);
    try {
      setRanking(await client.compareRuns({ ids, judge: judge.trim() || null }));
    } catch (e) {
      setError(errorInfo(e));
    } finally {
      setBusy(false);
    }
  };
  const make = (key: string) => ids.map((id, i) => ({ label: id, points: series(metrics[i]?.rows ?? [], key) }));
  return (
    <section aria-labelledby="compare-title">
      <h2 id="compare-title">Compare runs</h2>
      {ids.length < 2 ? (
        <p>Tick two or more runs in the runs list.</p>
      ) : (
        <div className="charts">
          <LineChart title="Loss" series={make("loss")} version={version} />
          <LineChart title="Validation loss" series={make("val_loss")} version={version} />
        </div>
      )}
      {ids.length >= 2 && client.has("compareRuns") && (
        <section aria-label="Judge ranking">
          <h3>Rank with the judge</h3>
          <div className="row">
            <input aria-label="Judge" value={judge} onChange={(e) => setJudge(e.target.value)} placeholder="default judge" spellCheck={false} />
            <button type="button" className="primary" onClick={judgeRuns} disabled={busy}>
              {busy ? "Judging…" : "Rank these runs"}
            </button>
          </div>
          <ErrorBox error={error} />
          {ranking && <JudgeTrust trust={weakestTrust(ranking.matches.map((m) => m.summary))} />}
          {ranking && (
            <table>
              <TableHead columns={["Rank", "Model", "Strength"]} />
              <tbody>
                {ranking.ranking.map((r) => (
                  <tr key={r.label}>
                    <td>{r.rank}</td>
                    <td>
                      {r.label}
                      {r.run_id === ranking.best ? " ★ best" : ""}
                    </td>
                    <td>{num(r.strength)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </section>
  );
}
