/**
 * A run's config and lineage as tables people read: each setting with its value (grouped as the
 * config is), the runs it was chained from (nearest first, each with its method and what was
 * carried over), and the data it trained on (the user's file, its hash, rows kept and skipped).
 */
import { useEffect, useState } from "react";
import { useClient } from "../client/context";
import { useAppStore } from "../store/store";
import { fieldLabel } from "../lib/draft";
import { bytes } from "../lib/format";
import { datasetName } from "../lib/messages";
import type { ApiOutput } from "../../../engine/api/contract";

type Detail = ApiOutput<"getRun">;
interface Manifest {
  source?: string;
  source_sha256?: string;
  source_bytes?: number;
  rows?: number;
  format?: string | null;
  schema?: string | null;
  skipped?: { count: number; duplicates: number };
  validation?: { rows?: number; split?: { fraction: number } | null } | null;
}

const SECTION: Record<string, string> = { model: "Model", data: "Data", lora: "LoRA", training: "Training", preference: "Preference" };

function value(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k} ${value(x)}`).join(", ") || "—";
  return String(v);
}

export function ConfigTable({ config }: { config: Record<string, unknown> }) {
  const rows: [string, string, string][] = [];
  for (const [key, v] of Object.entries(config)) {
    if (v && typeof v === "object" && !Array.isArray(v) && SECTION[key]) {
      for (const [field, x] of Object.entries(v as Record<string, unknown>)) rows.push([SECTION[key]!, fieldLabel(`${key}.${field}`).replace(/^[a-z]+\./, "").replaceAll("_", " "), value(x)]);
    } else rows.push(["Run", key === "init_from" ? "starts from" : key.replaceAll("_", " "), value(v)]);
  }
  const data = (config.data ?? {}) as { train?: string };
  for (const r of rows) if (r[0] === "Data" && r[1] === "Dataset" && data.train) r[2] = `${datasetName(data.train)} (${data.train})`;
  return (
    <table className="config-table" data-testid="config-table">
      <tbody>
        {rows.map(([section, field, v], i) => (
          <tr key={`${section}.${field}`}>
            <th scope="row" className="muted">{i === 0 || rows[i - 1]![0] !== section ? section : ""}</th>
            <th scope="row">{field}</th>
            <td>
              <code>{v}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The chain of runs this one started from, read from each run's status (parent). */
function useChain(detail: Detail | null): Detail[] {
  const client = useClient();
  const [chain, setChain] = useState<Detail[]>([]);
  useEffect(() => {
    let live = true;
    (async () => {
      const out: Detail[] = [];
      let parent = detail?.status.parent?.run ?? null;
      while (parent && out.length < 10) {
        const d = await client.getRun({ id: parent }).catch(() => null);
        if (!d) break;
        out.push(d);
        parent = d.status.parent?.run ?? null;
      }
      if (live) setChain(out);
    })();
    return () => {
      live = false;
    };
  }, [client, detail]);
  return chain;
}

export function LineageTable({ detail }: { detail: Detail }) {
  const chain = useChain(detail);
  const navigate = useAppStore((s) => s.navigate);
  const parent = detail.status.parent;
  const data = detail.data as Manifest | null;
  const model = (detail.config.model as { path?: string } | undefined)?.path ?? "";
  return (
    <table className="lineage-table" data-testid="lineage-table">
      <thead>
        <tr>
          <th scope="col">Stage</th>
          <th scope="col">Run</th>
          <th scope="col">Method</th>
          <th scope="col">What it passed on</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <td>This run</td>
          <td>
            <code>{detail.status.id}</code>
          </td>
          <td>{detail.status.method.toUpperCase()}</td>
          <td>{data ? `trained on ${data.source ? datasetName(data.source) : "?"} (${data.rows ?? "?"} rows${data.skipped?.count ? `, ${data.skipped.count} skipped` : ""}${data.source_bytes ? `, ${bytes(data.source_bytes)}` : ""}, sha256 ${data.source_sha256?.slice(0, 12) ?? "?"}…)` : "no data snapshot"}</td>
        </tr>
        {parent && (
          <tr>
            <td>Started from</td>
            <td>{parent.run ? <button type="button" className="link" onClick={() => navigate({ name: "run", id: parent.run! })}>{parent.run}</button> : <code>{parent.path}</code>}</td>
            <td>{chain[0]?.status.method.toUpperCase() ?? "—"}</td>
            <td>its {parent.kind === "adapter" ? "LoRA adapter, merged into the base model" : "full model"}</td>
          </tr>
        )}
        {chain.slice(1).map((d, i) => (
          <tr key={d.status.id}>
            <td>Which started from</td>
            <td>
              <button type="button" className="link" onClick={() => navigate({ name: "run", id: d.status.id })}>
                {d.status.id}
              </button>
            </td>
            <td>{d.status.method.toUpperCase()}</td>
            <td>its {chain[i]!.status.parent?.kind === "adapter" ? "LoRA adapter" : "full model"}</td>
          </tr>
        ))}
        <tr>
          <td>Base model</td>
          <td colSpan={3}>
            <code>{model}</code>
          </td>
        </tr>
      </tbody>
    </table>
  );
}
