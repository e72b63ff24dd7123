/**
 * Step 1: the base model. A folder typed, browsed (the engine's folder browser in a browser), or
 * picked from the models this machine has (used by earlier runs, in the Hugging Face cache) or the
 * curated catalog (memory each method needs against the detected device; download with progress).
 * The folder is checked as soon as it is chosen (checkModel): what is missing is said here, not at Start.
 */
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { useTask } from "../client/use-task";
import { ErrorBox } from "../components/ErrorBox";
import { ProgressBar } from "../components/ProgressBar";
import { FolderBrowser } from "../components/FolderBrowser";
import { tokenBridge } from "../client/engine-client";
import { HubTokenField } from "./HubTokenField";
import { useMachine } from "./use-machine";
import { bytes, gib } from "../lib/format";
import type { ApiOutput } from "../../../engine/api/contract";

type Listing = ApiOutput<"listModels">[number];
const METHOD_COLUMNS: [string, string][] = [
  ["lora", "LoRA"],
  ["lora+checkpointing", "LoRA + checkpointing"],
  ["full", "Full"],
  ["full+checkpointing", "Full + checkpointing"],
];
const CHECK_LABELS = { folder: "Folder", config: "config.json", weights: "Weights", tokenizer: "Tokenizer", chat_template: "Chat template" } as const;

export function ModelStep() {
  const client = useClient();
  const modelPath = useAppStore((s) => s.draft.modelPath);
  const catalogId = useAppStore((s) => s.draft.catalogId);
  const name = useAppStore((s) => s.draft.name);
  const update = useAppStore((s) => s.updateDraft);
  const [models, setModels] = useState<Listing[] | null>(null);
  const [local, setLocal] = useState<ApiOutput<"startingPoints">["models"]>([]);
  const device = useMachine()?.accelerator ?? null;
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const [browsing, setBrowsing] = useState(false);
  const [tokens] = useState(() => tokenBridge());

  useEffect(() => {
    if (client.has("listModels")) client.listModels({}).then(setModels, (e) => setError(errorInfo(e)));
    if (client.has("startingPoints")) client.startingPoints({}).then((p) => setLocal(p.models), () => undefined);
  }, [client]);

  return (
    <>
      <div className="field">
        <label htmlFor="model-path">Local model folder</label>
        <div className="row">
          <input id="model-path" value={modelPath} placeholder="/path/to/model (config.json, *.safetensors, tokenizer)" onChange={(e) => update({ modelPath: e.target.value, catalogId: null })} spellCheck={false} />
          {client.has("listFolders") && (
            <button type="button" onClick={() => setBrowsing((b) => !b)} aria-expanded={browsing}>
              Browse…
            </button>
          )}
        </div>
        <small>A Hugging Face model folder on this machine, or pick one below. Whetstone reads it; it never changes it.</small>
      </div>
      {browsing && (
        <FolderBrowser
          start={modelPath.trim() || null}
          onPick={(path) => {
            update({ modelPath: path, catalogId: null });
            setBrowsing(false);
          }}
          onClose={() => setBrowsing(false)}
        />
      )}
      <ModelCheckList />
      <div className="field">
        <label htmlFor="run-name">Run name</label>
        <input id="run-name" value={name} onChange={(e) => update({ name: e.target.value })} spellCheck={false} />
      </div>
      {local.length > 0 && (
        <section aria-label="Models on this machine">
          <h3>On this machine</h3>
          <ul className="local-models">
            {local.map((m) => (
              <li key={m.path}>
                <button type="button" className="link" aria-pressed={modelPath.trim() === m.path} onClick={() => update({ modelPath: m.path, catalogId: null })}>
                  {m.label}
                </button>{" "}
                <span className="muted small">
                  {m.source === "recent" ? `used by a run on ${new Date(m.used_at!).toLocaleDateString()}` : `Hugging Face cache${m.bytes ? `, ${bytes(m.bytes)}` : ""}`} · <code>{m.path}</code>
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {models && (
        <>
          <h3>Popular open models</h3>
          <p className="muted">
            Peak memory to train each at the default settings (micro-batch 4 × 1024 tokens), estimated from the model's shape{device ? `, against ${device}` : ""}. ✓ fits, ✗ does not. Gradient checkpointing recomputes activations: less memory, about 30% slower.
          </p>
          <ErrorBox error={error} />
          <HubTokenField bridge={tokens} />
          <Catalog models={models} selectedId={catalogId} />
        </>
      )}
    </>
  );
}

/** What the engine found in the chosen folder, item by item. */
function ModelCheckList() {
  const modelPath = useAppStore((s) => s.draft.modelPath.trim());
  const check = useAppStore((s) => s.modelCheck);
  if (!modelPath) return null;
  if (!check || check.input !== modelPath) return <p className="muted" aria-live="polite">Checking the model folder…</p>;
  return (
    <ul className="model-check" aria-label="Model folder check" aria-live="polite">
      {check.checks.map((c) => (
        <li key={c.item} className={c.ok ? "ok" : c.required ? "bad" : "warn"}>
          <span aria-hidden="true">{c.ok ? "✓" : c.required ? "✗" : "⚠"}</span> <strong>{CHECK_LABELS[c.item]}</strong> {c.detail}
        </li>
      ))}
    </ul>
  );
}

/** The catalog is one tab stop: arrow keys move between its rows' buttons (roving tabindex). */
function Catalog({ models, selectedId }: { models: Listing[]; selectedId: string | null }) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [active, setActive] = useState(() => Math.max(0, models.findIndex((m) => m.id === selectedId)));
  const onKey = (e: KeyboardEvent) => {
    const delta = e.key === "ArrowDown" ? 1 : e.key === "ArrowUp" ? -1 : e.key === "Home" ? -Infinity : e.key === "End" ? Infinity : 0;
    if (!delta) return;
    e.preventDefault();
    const next = Math.max(0, Math.min(models.length - 1, active + (Number.isFinite(delta) ? delta : delta > 0 ? models.length : -models.length)));
    setActive(next);
    body.current?.querySelectorAll<HTMLElement>("tr")[next]?.querySelector<HTMLElement>("button")?.focus();
  };
  return (
    <table className="catalog" aria-label="Model catalog (arrow keys move between models)">
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col">Parameters</th>
          {METHOD_COLUMNS.map(([, label]) => (
            <th scope="col" key={label}>
              {label}
            </th>
          ))}
          <th scope="col">On this machine</th>
        </tr>
      </thead>
      <tbody ref={body} onKeyDown={onKey}>
        {models.map((m, i) => (
          <ModelRow key={m.id} m={m} selected={selectedId === m.id} tabbable={i === active} onFocus={() => setActive(i)} />
        ))}
      </tbody>
    </table>
  );
}

function ModelRow({ m, selected, tabbable, onFocus }: { m: Listing; selected: boolean; tabbable: boolean; onFocus: () => void }) {
  const client = useClient();
  const update = useAppStore((s) => s.updateDraft);
  const progress = useAppStore((s) => s.progress[`download:${m.id}`]);
  const { busy, error, run: track } = useTask(`download:${m.id}`);
  const [path, setPath] = useState(m.cached);
  const tabIndex = tabbable ? 0 : -1;

  const download = () =>
    track(async () => {
      const r = await client.pullModel({ id: m.id });
      setPath(r.path);
      update({ modelPath: r.path, catalogId: m.id });
    });
  return (
    <tr className={selected ? "selected" : undefined} onFocus={onFocus}>
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
          <button type="button" tabIndex={tabIndex} onClick={() => update({ modelPath: path, catalogId: m.id })} aria-pressed={selected}>
            {selected ? "Selected" : "Use"}
          </button>
        ) : busy ? (
          <ProgressBar progress={progress} label={`Downloading ${m.id}`} />
        ) : (
          <button type="button" tabIndex={tabIndex} onClick={download} aria-label={`Download ${m.id}`}>
            Download
          </button>
        )}
        <ErrorBox error={error} />
      </td>
    </tr>
  );
}
