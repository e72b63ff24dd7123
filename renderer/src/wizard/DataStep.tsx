/** Step 2: the dataset. Drop or pick a file, or generate one with a model; the engine checks it row by row and templates a sample. */
import { useEffect, useState } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { DATASET_FILES, DropZone } from "../components/DropZone";
import { IssueList } from "../components/IssueList";
import { Histogram } from "../components/Histogram";
import { TokenPreview } from "../components/TokenPreview";
import { ErrorBox } from "../components/ErrorBox";
import { ProgressBar } from "../components/ProgressBar";
import { bytes, num } from "../lib/format";
import { useChooseDataFile, useInspect } from "./use-draft-checks";
import { SynthPanel } from "./SynthPanel";
import { dataVerdict } from "../lib/messages";
import type { DatasetReport } from "../../../engine/api/public";

export function DataStep({ home }: { home: string | null }) {
  const client = useClient();
  const dataPath = useAppStore((s) => s.draft.dataPath);
  const dataName = useAppStore((s) => s.draft.dataName);
  const report = useAppStore((s) => s.report);
  const reportError = useAppStore((s) => s.reportError);
  const inspecting = useAppStore((s) => s.inspecting);
  const progress = useAppStore((s) => (dataPath ? s.progress[`dataset:${dataPath}`] : undefined));
  const inspect = useInspect();
  const choose = useChooseDataFile();

  const onFile = async (file: File) => {
    const s = useAppStore.getState();
    s.beginInspect();
    try {
      const stored = await client.fileForEngine(file);
      await choose(stored.path, file.name);
    } catch (e) {
      s.setReportError(errorInfo(e));
    }
  };

  const tokens = report?.stats.tokens;
  return (
    <>
      <DropZone onFile={onFile} accept={DATASET_FILES} busy={inspecting} label="Drop a dataset here: JSONL, JSON, CSV, TSV or Parquet, also compressed (gzip, zstd, bzip2, xz) (chat, ShareGPT, Alpaca, prompt/completion, preference pairs)." />
      <SynthPanel home={home} />
      {inspecting && <ProgressBar progress={progress} label={report ? "Checking the dataset again" : "Reading the dataset"} />}
      <ErrorBox error={reportError} />
      {report && (
        <section aria-label="Validation report" className="report">
          <h3>
            {dataName ?? report.path} <span className="muted">{report.format} · {report.schema} · {bytes(report.bytes)} · {report.stats.rows} rows</span>
          </h3>
          <p className={report.trainable ? "verdict ok" : "verdict bad"} data-testid="verdict">
            {report.trainable ? "✓ " : "✗ "}
            {dataVerdict(report)}
          </p>
          {report.errors > 0 && report.stats.samples > 0 && (
            <label className="choice">
              <input
                type="checkbox"
                checked={report.skip_invalid}
                onChange={(e) => {
                  useAppStore.getState().updateDraft({ skipInvalid: e.target.checked });
                  void inspect(report.path, { keep: true });
                }}
              />
              <span>Train on the {report.stats.samples} valid samples and skip the invalid rows (they are listed in the run's data manifest).</span>
            </label>
          )}
          <IssueList report={report} fileName={dataName} />
          <div className="stats">
            <Stat label="Samples" value={report.stats.samples} />
            <Stat label="Invalid rows" value={report.stats.invalid_rows} />
            <Stat label="Duplicates" value={report.stats.duplicates} />
            {report.stats.turns && <Stat label="Turns (mean)" value={num(report.stats.turns.mean)} />}
            {tokens && <Stat label="Tokens (p50 / p95)" value={`${tokens.length.p50} / ${tokens.length.p95}`} />}
            {tokens && <Stat label="Trained tokens / epoch" value={num(tokens.trained_tokens_per_epoch)} />}
            {tokens && <Stat label={`Over ${tokens.max_length}`} value={tokens.over_max_length} />}
          </div>
          {tokens ? <Histogram title="Sample length (tokens)" buckets={tokens.histogram} limit={tokens.max_length} /> : report.stats.turns && <Histogram title="Turns per conversation" buckets={report.stats.turns.histogram} />}
          {report.notes.map((n) => (
            <p key={n} className="muted small">{withFileName(n, report, dataName)}</p>
          ))}
          <SamplePreviewPanel />
        </section>
      )}
    </>
  );
}

/** The stored copy's name (content hash + name) replaced by the name the user gave the file. */
function withFileName(text: string, report: DatasetReport, name: string | null): string {
  if (!name) return text;
  const stored = report.path.split(/[\\/]/).pop()!;
  return text.split(report.path).join(name).split(stored).join(name);
}

function Stat({ label, value }: { label: string; value: string | number }) {
  return (
    <div className="stat">
      <span>{value}</span>
      <small>{label}</small>
    </div>
  );
}

/** The template preview of one sample, with the goldfish setting of the draft. */
export function SamplePreviewPanel() {
  const client = useClient();
  const report = useAppStore((s) => s.report);
  const preview = useAppStore((s) => s.preview);
  const previewError = useAppStore((s) => s.previewError);
  const modelPath = useAppStore((s) => s.draft.modelPath.trim());
  const goldfish = useAppStore((s) => s.draft.goldfish);
  const goldfishK = useAppStore((s) => s.draft.goldfishK);
  const maxLength = useAppStore((s) => s.draft.maxLength);
  const [index, setIndex] = useState(0);
  const samples = report?.preview.samples ?? 0;

  useEffect(() => {
    if (!report || !modelPath || samples === 0) return;
    let live = true;
    client
      .previewDataset({ path: report.path, model: modelPath, index, maxLength, goldfish: goldfish ? { k: goldfishK, variant: "hashed" } : null })
      .then((p) => live && useAppStore.getState().setPreview(p), (e) => live && useAppStore.getState().setPreview(null, errorInfo(e).message));
    return () => {
      live = false;
    };
  }, [client, report, modelPath, index, goldfish, goldfishK, maxLength, samples]);

  if (!report || samples === 0) return null;
  if (!modelPath) return <p className="muted">Choose a model in step 1 to see a sample through its chat template.</p>;
  return (
    <section aria-label="Template preview" className="preview">
      <div className="row">
        <h3>Template preview</h3>
        <label>
          Sample{" "}
          <input type="number" min={0} max={samples - 1} value={index} onChange={(e) => setIndex(Math.max(0, Math.min(samples - 1, Number(e.target.value) || 0)))} aria-label="Sample index" />
        </label>
        <span className="muted">of {samples}</span>
      </div>
      {previewError && <p role="alert">{previewError}</p>}
      {preview && <TokenPreview preview={preview} />}
    </section>
  );
}
