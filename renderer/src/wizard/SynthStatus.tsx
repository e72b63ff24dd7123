/**
 * The synthesis the Data step started: rows written, candidates tried and the time left while it
 * runs (the engine's `synth` events), a Cancel button; afterwards the report in words and "Use this
 * file", which makes the file the wizard's dataset exactly as dropping it would.
 */
import { useClient } from "../client/context";
import { ErrorBox } from "../components/ErrorBox";
import { useAppStore } from "../store/store";
import { fileName, progressInWords, reportInWords, type SynthReport } from "../lib/synth";
import { useChooseDataFile } from "./use-draft-checks";

export function SynthStatus() {
  const client = useClient();
  const job = useAppStore((s) => s.synthJob);
  const progress = useAppStore((s) => (s.synthJob ? s.progress[`synth:${s.synthJob.request.out}`] : undefined));
  if (!job) return null;
  const { out, n } = job.request;

  if (job.state === "running" || job.state === "stopping") {
    const rows = progress?.phase === "synth" ? progress.current : null;
    const cancel = () => {
      useAppStore.getState().stoppingSynth();
      void client.cancelSynth({ out });
    };
    return (
      <div className="synth-progress" data-testid="synth-progress">
        <div className="progress">
          <progress aria-label="Rows generated" value={rows === null ? undefined : Math.min(1, rows / n)} max={1} />
          <span data-testid="synth-progress-text">{job.state === "stopping" ? "Stopping… the rows written so far stay in the file." : progressInWords(progress)}</span>
        </div>
        <button type="button" className="danger" onClick={cancel} disabled={job.state === "stopping"}>
          Cancel
        </button>
      </div>
    );
  }
  if (job.state === "cancelled") {
    return (
      <p className="muted" data-testid="synth-stopped">
        Stopped. The rows written so far stay in {fileName(out)}; press Generate again to continue from there.
      </p>
    );
  }
  if (job.state === "failed") {
    return (
      <>
        <ErrorBox error={job.error} />
        <p className="muted small">Rows written before this stay in {fileName(out)}; once it is fixed, Generate continues from there.</p>
      </>
    );
  }
  return job.report ? <SynthResult report={job.report} /> : null;
}

export function SynthResult({ report }: { report: SynthReport }) {
  const choose = useChooseDataFile();
  const inUse = useAppStore((s) => s.draft.dataPath === report.out);
  const { lines, verdict } = reportInWords(report);
  return (
    <section aria-label="Generation report" className="result" data-testid="synth-report">
      <p className={report.complete ? "ok" : "warn"}>
        {report.complete ? "✓ " : "✗ "}
        {lines[0]}
      </p>
      <ul className="small">
        {lines.slice(1).map((l) => (
          <li key={l}>{l}</li>
        ))}
      </ul>
      {verdict && <p className="warn">{verdict}</p>}
      <p className="row">
        <code>{report.out}</code>
        {inUse ? (
          <span className="ok">✓ The wizard trains on this file; its check is below.</span>
        ) : (
          <button type="button" className="primary" disabled={report.rows === 0} onClick={() => void choose(report.out, fileName(report.out))}>
            Use this file
          </button>
        )}
      </p>
    </section>
  );
}
