/**
 * Where the new run starts: the base model of step 1, or a finished run (its adapter, merged into
 * the base first, or its full model), each shown with its lineage. Picking a run whose adapter
 * belongs to another base switches step 1 to that base, and says so.
 */
import { useEffect, useState } from "react";
import { useAppStore } from "../store/store";
import { useClient } from "../client/context";
import type { ApiOutput } from "../../../engine/api/contract";
import type { StartFrom } from "../lib/draft";

type Chainable = ApiOutput<"startingPoints">["runs"][number];
const last = (path: string) => path.split(/[\\/]/).filter(Boolean).pop() ?? path;

export function lineageText(from: Pick<StartFrom, "id" | "method" | "lineage">): string {
  return [from, ...from.lineage].map((l) => `${l.method ? `${l.method.toUpperCase()} ` : ""}${l.id}`).join(" ← ");
}

export function StartFromPicker() {
  const client = useClient();
  const initFrom = useAppStore((s) => s.draft.initFrom);
  const modelPath = useAppStore((s) => s.draft.modelPath.trim());
  const update = useAppStore((s) => s.updateDraft);
  const [runs, setRuns] = useState<Chainable[] | null>(null);

  useEffect(() => {
    if (client.has("startingPoints")) client.startingPoints({}).then((p) => setRuns(p.runs), () => setRuns([]));
  }, [client]);

  const pick = (r: Chainable) => update({ initFrom: { id: r.id, name: r.name, method: r.method, kind: r.kind, base: r.base, lineage: r.lineage }, ...(r.kind === "adapter" && r.base !== modelPath ? { modelPath: r.base, catalogId: null } : {}) });
  // The chosen run stays listed even when the list has not loaded (after a reload) or no longer has it.
  const shown = runs ?? [];
  return (
    <fieldset>
      <legend>Start from</legend>
      <label className="choice">
        <input type="radio" name="start-from" checked={initFrom === null} onChange={() => update({ initFrom: null })} />
        <span>
          <strong>The base model</strong> {modelPath ? <code>{last(modelPath)}</code> : "of step 1"}, as downloaded.
        </span>
      </label>
      {initFrom && !shown.some((r) => r.id === initFrom.id) && (
        <label className="choice">
          <input type="radio" name="start-from" checked readOnly />
          <span>
            <strong>Run {initFrom.id}</strong> (its {initFrom.kind}) · {lineageText(initFrom)}
          </span>
        </label>
      )}
      {shown.map((r) => (
        <label className="choice" key={r.id}>
          <input type="radio" name="start-from" checked={initFrom?.id === r.id} onChange={() => pick(r)} />
          <span>
            <strong>{r.name}</strong> <span className="muted">{r.method.toUpperCase()} · {r.finetune} · finished {r.finished_at ? new Date(r.finished_at).toLocaleString() : "–"}</span>
            <br />
            <span className="small">
              Starts from its {r.kind === "adapter" ? `LoRA adapter, merged into ${last(r.base)} first` : "fully trained model"}. Lineage: {lineageText(r)}
              {r.kind === "adapter" && r.base !== modelPath && <em> Uses its own base model {last(r.base)} (step 1 changes to it).</em>}
            </span>
          </span>
        </label>
      ))}
      {runs && runs.length === 0 && <p className="muted small">No finished runs yet: a finished run can be the starting point of the next (SFT first, then DPO on preference pairs).</p>}
    </fieldset>
  );
}
