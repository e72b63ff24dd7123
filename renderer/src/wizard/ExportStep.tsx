/** Step 7: write the model where other tools read it, or push it to the Hugging Face Hub; show where it went. */
import { useEffect, useState } from "react";
import { useAppStore } from "../store/store";
import { useClient } from "../client/context";
import { useTask } from "../client/use-task";
import { TaskControls } from "../components/TaskControls";
import { EXPORT_FORMATS, GGUF_QUANTIZATIONS } from "../../../engine/api/public";
import { bytes } from "../lib/format";
import { needsCompletedRun } from "../lib/run-gates";
import { FormatChoice } from "./FormatChoice";
import { PushPanel } from "./PushPanel";

export function ExportStep({ home }: { home: string | null }) {
  const runId = useAppStore((s) => s.draft.runId);
  if (!runId) return <p>Train a model first (step 5).</p>;
  return <ExportPanel runId={runId} home={home} />;
}

export function ExportPanel({ runId, home }: { runId: string; home: string | null }) {
  const client = useClient();
  const exportsDone = useAppStore((s) => s.exports[runId]);
  const state = useAppStore((s) => s.runs[runId]?.state);
  const runName = useAppStore((s) => s.runs[runId]?.name);
  const [format, setFormat] = useState<(typeof EXPORT_FORMATS)[number]>("safetensors");
  const [quant, setQuant] = useState<(typeof GGUF_QUANTIZATIONS)[number]>("f16");
  const [out, setOut] = useState("");
  const [overwrite, setOverwrite] = useState(false);
  const { run: track } = useTask(`export:${runId}`);
  const dest = out || (home ? `${home}/exports/${runId}-${format}` : "");
  const gate = needsCompletedRun(state, "Export");

  useEffect(() => {
    client.getExports({ id: runId }).then((r) => useAppStore.getState().setExports(runId, r), () => undefined);
  }, [client, runId]);

  const run = () =>
    track(async () => {
      await client.exportRun({ id: runId, format, out: dest, overwrite, ...(format === "gguf" || format === "ollama" ? { quantization: quant } : {}) });
      useAppStore.getState().setExports(runId, await client.getExports({ id: runId }));
    });
  const last = exportsDone?.[exportsDone.length - 1];
  return (
    <section aria-label="Export" className="export">
      <FormatChoice legend="Format" name="format" formats={EXPORT_FORMATS} value={format} onChange={setFormat} />
      {(format === "gguf" || format === "ollama") && (
        <div className="field">
          <label htmlFor="quant">Quantization</label>
          <select id="quant" value={quant} onChange={(e) => setQuant(e.target.value as typeof quant)}>
            {GGUF_QUANTIZATIONS.map((q) => (
              <option key={q}>{q}</option>
            ))}
          </select>
        </div>
      )}
      <div className="field">
        <label htmlFor="export-out">Destination folder</label>
        <input id="export-out" value={dest} onChange={(e) => setOut(e.target.value)} spellCheck={false} />
        <small>A new folder; written beside it and renamed when complete, so a stopped export leaves nothing half-done.</small>
      </div>
      <label className="choice">
        <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} />
        <span>Replace the existing folder if there is one (only once the new export is complete)</span>
      </label>
      <TaskControls runId={runId} kind="export" labels={{ start: "Export", running: "Exporting…", stop: "Cancel export", progress: "Export progress" }} gate={gate} incomplete={!dest} onStart={run} />
      {last && (
        <div className="result" data-testid="export-result">
          <p>
            ✓ <strong>{last.format}</strong> written to <code data-testid="export-dir">{last.out_dir}</code> ({bytes(last.bytes)}, {last.files.length} files, {last.seconds.toFixed(1)} s)
          </p>
          <ul className="files">
            {last.files.slice(0, 12).map((f) => (
              <li key={f.path}>
                <code>{f.path}</code> <span className="muted">{bytes(f.bytes)}</span>
              </li>
            ))}
          </ul>
          {last.format === "ollama" && <OllamaCreate outDir={last.out_dir} name={runName ?? last.run_id} />}
        </div>
      )}
      <PushPanel runId={runId} />
    </section>
  );
}

/** The command that makes the export an Ollama model (named after the run, as Ollama's names allow), with a button that copies it. */
export function OllamaCreate({ outDir, name }: { outDir: string; name: string }) {
  const [copied, setCopied] = useState(false);
  const model = name.toLowerCase().replace(/[^a-z0-9._-]+/g, "-");
  const line = `ollama create ${model} -f "${outDir}/Modelfile"`;
  const copy = () =>
    navigator.clipboard?.writeText(line).then(
      () => setCopied(true),
      () => undefined,
    );
  return (
    <div className="row">
      <code data-testid="ollama-create">{line}</code>
      <button type="button" onClick={copy}>
        {copied ? "Copied" : "Copy"}
      </button>
    </div>
  );
}
