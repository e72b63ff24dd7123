/** One run: live dashboard, config, data lineage, audit and exports. */
import { useEffect, useState } from "react";
import { useClient } from "../client/context";
import { RunDashboard } from "./RunDashboard";
import { AuditPanel } from "../wizard/EvaluateStep";
import { JudgePanel } from "../wizard/JudgePanel";
import { ExportPanel } from "../wizard/ExportStep";
import type { ApiOutput } from "../../../engine/api/contract";

export function RunDetail({ id, home }: { id: string; home: string | null }) {
  const client = useClient();
  const [detail, setDetail] = useState<ApiOutput<"getRun"> | null>(null);
  useEffect(() => {
    client.getRun({ id }).then(setDetail, () => setDetail(null));
  }, [client, id]);
  const data = detail?.data as { source?: { path?: string; sha256?: string }; samples?: number; skipped?: unknown[] } | null | undefined;
  return (
    <section aria-labelledby="run-title">
      <h2 id="run-title">{id}</h2>
      <RunDashboard runId={id} />
      <div className="grid2">
        <details open>
          <summary>Config</summary>
          <pre tabIndex={0}>{detail ? JSON.stringify(detail.config, null, 2) : "…"}</pre>
        </details>
        <details open>
          <summary>Data lineage</summary>
          <pre tabIndex={0}>{data ? JSON.stringify(data, null, 2).slice(0, 4000) : "No data manifest."}</pre>
        </details>
      </div>
      <JudgePanel runId={id} />
      <AuditPanel runId={id} />
      <h3>Exports</h3>
      <ExportPanel runId={id} home={home} />
    </section>
  );
}
