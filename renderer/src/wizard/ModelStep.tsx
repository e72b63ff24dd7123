/**
 * Step 1: the base model. The engine's curated catalog (listModels) says, per model, the memory
 * each method needs against the detected device and whether it is already downloaded; a model is
 * used from the Hugging Face cache, downloaded (pullModel), or given as a local folder.
 */
import { useEffect, useState } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { useTask } from "../client/use-task";
import { ErrorBox } from "../components/ErrorBox";
import { ProgressBar } from "../components/ProgressBar";
import { tokenBridge } from "../client/engine-client";
import { HubTokenField } from "./HubTokenField";
import { gib } from "../lib/format";
import type { ApiOutput } from "../../../engine/api/contract";

type Listing = ApiOutput<"listModels">[number];
const METHOD_COLUMNS: [string, string][] = [
  ["lora", "LoRA"],
  ["lora+checkpointing", "LoRA + checkpointing"],
  ["full", "Full"],
];

export function ModelStep() {
  const client = useClient();
  const modelPath = useAppStore((s) => s.draft.modelPath);
  const catalogId = useAppStore((s) => s.draft.catalogId);
  const name = useAppStore((s) => s.draft.name);
  const update = useAppStore((s) => s.updateDraft);
  const [models, setModels] = useState<Listing[] | null>(null);
  const [device, setDevice] = useState<string | null>(null);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const [tokens] = useState(() => tokenBridge());

  useEffect(() => {
    if (client.has("listModels")) client.listModels({}).then(setModels, (e) => setError(errorInfo(e)));
    if (client.has("doctor")) client.doctor({}).then((d) => setDevice(d.summary.accelerator), () => undefined);
  }, [client]);

  return (
    <>
      <div className="field">
        <label htmlFor="model-path">Local model folder</label>
        <input id="model-path" value={modelPath} placeholder="/path/to/model (config.json, *.safetensors, tokenizer)" onChange={(e) => update({ modelPath: e.target.value, catalogId: null })} spellCheck={false} />
        <small>A Hugging Face model folder on this machine, or pick one below. Whetstone reads it; it never changes it.</small>
      </div>
      <div className="field">
        <label htmlFor="run-name">Run name</label>
        <input id="run-name" value={name} onChange={(e) => update({ name: e.target.value })} spellCheck={false} />
      </div>
      {models && (
        <>
          <h3>Popular open models</h3>
          <p className="muted">
            Peak memory to train each at the default settings (micro-batch 4 × 1024 tokens), estimated from the model's shape{device ? `, against ${device}` : ""}. ✓ fits, ✗ does not.
          </p>
          <ErrorBox error={error} />
          <HubTokenField bridge={tokens} />
          <table className="catalog">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Parameters</th>
                {METHOD_COLUMNS.map(([, label]) => (
                  <th scope="col" key={label}>{label}</th>
                ))}
                <th scope="col">On this machine</th>
              </tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <ModelRow key={m.id} m={m} selected={catalogId === m.id} />
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

function ModelRow({ m, selected }: { m: Listing; selected: boolean }) {
  const client = useClient();
  const update = useAppStore((s) => s.updateDraft);
  const progress = useAppStore((s) => s.progress[`download:${m.id}`]);
  const { busy, error, run: track } = useTask(`download:${m.id}`);
  const [path, setPath] = useState(m.cached);

  const download = () =>
    track(async () => {
      const r = await client.pullModel({ id: m.id });
      setPath(r.path);
      update({ modelPath: r.path, catalogId: m.id });
    });
  return (
    <tr className={selected ? "selected" : undefined}>
      <td>
        <strong>{m.id.split("/")[1]}</strong> <span className="muted small">{m.kind}{m.gated ? " · gated" : ""}</span>
        <div className="muted small">{m.id} · {m.license}</div>
      </td>
      <td>{(m.parameters / 1e9).toFixed(2)} B</td>
      {METHOD_COLUMNS.map(([key]) => {
        const f = m.fits[key];
        return (
          <td key={key} className={f ? (f.fits ? "fit" : "no-fit") : undefined}>
            {f ? `${gib(f.bytes)} ${f.fits ? "✓" : "✗"}` : "–"}
          </td>
        );
      })}
      <td>
        {path ? (
          <button type="button" onClick={() => update({ modelPath: path, catalogId: m.id })} aria-pressed={selected}>
            {selected ? "Selected" : "Use"}
          </button>
        ) : busy ? (
          <ProgressBar progress={progress} label={`Downloading ${m.id}`} />
        ) : (
          <button type="button" onClick={download}>
            Download
          </button>
        )}
        {error && <p role="alert" className="warn small">{error.message} {error.hint}</p>}
      </td>
    </tr>
  );
}
