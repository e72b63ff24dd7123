/** One run: live dashboard, config and lineage as tables, judge, benchmarks, audit and exports; start the next run, or rounds, from it. */
import { useEffect, useState } from "react";
import { useClient } from "../client/context";
import { useAppStore } from "../store/store";
import { RunDashboard } from "./RunDashboard";
import { AuditPanel } from "../wizard/EvaluateStep";
import { JudgePanel } from "../wizard/JudgePanel";
import { BenchPanel } from "../wizard/BenchPanel";
import { ExportPanel } from "../wizard/ExportStep";
import { ConfigTable, LineageTable } from "./RunInfo";
import { RoundsStarter } from "./RoundsStarter";
import { startFromRun } from "../lib/draft";
import type { ApiOutput } from "../../../engine/api/contract";

export function RunDetail({ id, home }: { id: string; home: string | null }) {
  const client = useClient();
  const [detail, setDetail] = useState<ApiOutput<"getRun"> | null>(null);
  const [rounds, setRounds] = useState(false);
  const state = useAppStore((s) => s.runs[id]?.state);
  useEffect(() => {
    client.getRun({ id }).then(setDetail, () => setDetail(null));
  }, [client, id, state]);
  const model = (detail?.config.model as { path?: string } | undefined)?.path ?? "";
  const from = detail ? startFromRun(detail.status, model) : null;
  return (
    <section aria-labelledby="run-title">
      <h2 id="run-title">{detail?.status.name ?? id}</h2>
      <RunDashboard runId={id} />
      {from && (
        <div className="row">
          <button type="button" className="primary" onClick={() => useAppStore.getState().chainFromRun(from)}>
            New run from this one
          </button>
          <span className="muted small">Starts from this run's {from.kind === "adapter" ? "adapter" : "model"} with the same settings; you choose the data and method (DPO after SFT).</span>
          {client.has("startRounds") && (
            <button type="button" onClick={() => setRounds((v) => !v)} aria-expanded={rounds}>
              Improve with rounds
            </button>
          )}
        </div>
      )}
      {from && rounds && detail && <RoundsStarter run={{ id: from.id, name: from.name, base: from.base }} config={detail.config as Record<string, unknown>} onClose={() => setRounds(false)} />}
      <div className="grid2">
        <details open>
          <summary>Config</summary>
          {detail ? <ConfigTable config={detail.config} /> : <p>…</p>}
        </details>
        <details open>
          <summary>Lineage</summary>
          {detail ? <LineageTable detail={detail} /> : <p>…</p>}
        </details>
      </div>
      <JudgePanel runId={id} />
      <BenchPanel runId={id} />
      <AuditPanel runId={id} />
      <h3>Exports</h3>
      <ExportPanel runId={id} home={home} />
    </section>
  );
}
