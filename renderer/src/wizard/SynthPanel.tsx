/**
 * The Data step's "Generate data with a model": which way (the model's own chat template, new
 * prompts like the user's examples, or a list of subjects the model drafts syllabi for), how many
 * rows, where the file goes, several answers and a judge to choose (SynthChoices.tsx), the rest
 * under "More options"; then the synthesis runs in the engine (SynthStatus shows it) and its file can become
 * the wizard's dataset. The model is the wizard's base model, or the finished run it chains from.
 *
 * A file that already holds rows is continued, not restarted: the panel reads it (inspectDataset)
 * and says how many rows are there before Generate is pressed, so a cancelled or crashed
 * synthesis is picked up by pressing it again.
 */
import { useEffect, useState } from "react";
import { useShallow } from "zustand/react/shallow";
import { errorInfo, useClient } from "../client/context";
import { DATASET_FILES } from "../components/DropZone";
import { useAppStore } from "../store/store";
import { OPTIONAL_FILTERS, answersPlan, defaultOutPath, resumeNote, synthRequest, type SynthForm } from "../lib/synth";
import { AnswerFields, SubjectsFields } from "./SynthChoices";
import { Choice, FilePick, NumberField } from "./SynthFields";
import { SynthStatus } from "./SynthStatus";

export function SynthPanel({ home }: { home: string | null }) {
  const started = useAppStore((s) => s.synthJob !== null);
  const [open, setOpen] = useState(started);
  return (
    <details className="synth" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Generate data with a model</summary>
      {open && <SynthSettings home={home} />}
    </details>
  );
}

export function SynthSettings({ home }: { home: string | null }) {
  const client = useClient();
  const form = useAppStore((s) => s.synthForm);
  const set = useAppStore((s) => s.setSynthForm);
  const draft = useAppStore(useShallow((s) => ({ modelPath: s.draft.modelPath, initFrom: s.draft.initFrom, dataPath: s.draft.dataPath })));
  const jobState = useAppStore((s) => s.synthJob?.state);
  const busy = jobState === "running" || jobState === "stopping";
  const { request, problems } = synthRequest(form, draft, home);
  const byRun = form.writer === "run" && draft.initFrom !== null;
  const out = form.out || defaultOutPath(form.method, draft.dataPath, home, answersPlan(form, byRun).kept);
  const rowsInFile = useRowsInFile(out, !busy, jobState);
  const n = Number(form.rows) || 0;
  const note = resumeNote(rowsInFile, n);
  const full = rowsInFile !== null && rowsInFile >= n;

  const start = async () => {
    if (!request) return;
    useAppStore.getState().startSynth(request);
    try {
      useAppStore.getState().finishSynth(await client.synthData(request));
    } catch (e) {
      const err = errorInfo(e);
      useAppStore.getState().failSynth(err, err.code === "CANCELLED");
    }
  };

  return (
    <section aria-label="Generate data with a model" className="synth-body">
      <fieldset className="bare" disabled={busy}>
        <fieldset>
          <legend>Which way</legend>
          <Choice name="synth-method" checked={form.method === "magpie"} onChange={() => set({ method: "magpie" })} label="From the model's own chat template">
            The model writes a request the way a user would, then answers it. Needs a chat model.
          </Choice>
          <Choice name="synth-method" checked={form.method === "fewshot"} onChange={() => set({ method: "fewshot" })} label="From examples of yours">
            The model is shown a few of your prompts, writes a new one like them, then answers it.
          </Choice>
          <Choice name="synth-method" checked={form.method === "glan"} onChange={() => set({ method: "glan" })} label="From a list of subjects">
            The model drafts a course syllabus for each subject (class sessions and their key concepts), then writes homework-style requests on a few key concepts at a time, then answers them.
          </Choice>
        </fieldset>
        {form.method === "glan" && <SubjectsFields form={form} set={set} out={out} />}
        {form.method === "fewshot" && (
          <FilePick name="Examples file" label="Drop a file of your example prompts or conversations (any dataset format), or pick one." value={form.examples} onChange={(examples) => set({ examples })} />
        )}
        <Writer form={form} set={set} modelPath={draft.modelPath.trim()} initFrom={draft.initFrom} />
        <div className="grid2">
          <div className="field">
            <label htmlFor="synth-rows">How many rows</label>
            <input id="synth-rows" type="number" min={1} value={form.rows} onChange={(e) => set({ rows: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor="synth-out">Save the rows to</label>
            <input id="synth-out" value={out} onChange={(e) => set({ out: e.target.value })} spellCheck={false} />
            <small>A .jsonl file; rows are added to it one by one, so a stopped run keeps what it wrote.</small>
          </div>
        </div>
        <AnswerFields form={form} set={set} modelPath={draft.modelPath.trim()} writerRun={byRun ? draft.initFrom!.id : null} />
        <MoreOptions form={form} set={set} />
      </fieldset>
      {note && !busy && (
        <p className="resume" data-testid="synth-resume">
          {note}
        </p>
      )}
      {problems.length > 0 && (
        <ul className="problems" aria-live="polite" data-testid="synth-problems">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      <div className="row">
        <button type="button" className="primary" onClick={() => void start()} disabled={busy || request === null || full}>
          {rowsInFile && !full ? "Generate the rest" : "Generate rows"}
        </button>
      </div>
      <SynthStatus />
    </section>
  );
}

/** Which model writes: the base model, or (when the wizard chains from a finished run) that run's trained weights. */
function Writer({ form, set, modelPath, initFrom }: { form: SynthForm; set: (p: Partial<SynthForm>) => void; modelPath: string; initFrom: { id: string; name: string } | null }) {
  if (!initFrom) {
    return modelPath ? (
      <p className="small">
        Written by the base model chosen in step 1: <code>{modelPath}</code>
      </p>
    ) : null;
  }
  return (
    <fieldset>
      <legend>Which model writes</legend>
      <Choice name="synth-writer" checked={form.writer === "base"} onChange={() => set({ writer: "base" })} label="The base model">
        {modelPath || "Choose it in step 1."}
      </Choice>
      <Choice name="synth-writer" checked={form.writer === "run"} onChange={() => set({ writer: "run" })} label={`Your finished run “${initFrom.name}”`}>
        Its trained weights, as the run left them.
      </Choice>
    </fieldset>
  );
}

function MoreOptions({ form, set }: { form: SynthForm; set: (p: Partial<SynthForm>) => void }) {
  const toggle = (id: SynthForm["filters"][number], on: boolean) => set({ filters: on ? [...form.filters, id] : form.filters.filter((f) => f !== id) });
  return (
    <details className="advanced">
      <summary>More options</summary>
      <div className="grid2">
        <NumberField id="synth-seed" label="Seed" value={form.seed} onChange={(seed) => set({ seed })} help="The same seed writes the same rows; a file continues only with the seed it began with." />
        {form.method === "fewshot" && <NumberField id="synth-k" label="Examples shown each time" value={form.examplesShown} onChange={(examplesShown) => set({ examplesShown })} help="3 to 5 is usual." />}
        <NumberField id="synth-prompt-tokens" label="Longest prompt (tokens)" value={form.promptTokens} onChange={(promptTokens) => set({ promptTokens })} help="A longer request is cut off here." />
        <NumberField id="synth-answer-tokens" label="Longest answer (tokens)" value={form.answerTokens} onChange={(answerTokens) => set({ answerTokens })} help="A longer answer is cut off here." />
      </div>
      <fieldset>
        <legend>Which rows to leave out</legend>
        <label className="choice disabled">
          <input type="checkbox" checked disabled />
          <span>Drop empty answers (always: an empty row cannot train)</span>
        </label>
        {OPTIONAL_FILTERS.map((f) => (
          <label key={f.id} className="choice">
            <input type="checkbox" checked={form.filters.includes(f.id)} onChange={(e) => toggle(f.id, e.target.checked)} />
            <span>{f.label}</span>
          </label>
        ))}
      </fieldset>
      <FilePick
        name="Held-out prompts file"
        label="To keep your evaluation honest, drop the prompts you will test on (a text file, one per line, or any dataset): a new row sharing a run of 8 words with one is left out."
        accept={`${DATASET_FILES},.txt`}
        value={form.heldOut}
        onChange={(heldOut) => set({ heldOut })}
      />
    </details>
  );
}

/** Rows already in the file at `out` (null: none, no file there, or not read yet), read again after each synthesis ends. */
function useRowsInFile(out: string, enabled: boolean, after: string | undefined): number | null {
  const client = useClient();
  const key = `${out}\n${after ?? ""}`;
  const [found, setFound] = useState<{ key: string; rows: number | null } | null>(null);
  useEffect(() => {
    if (!enabled || !out) return;
    let live = true;
    const t = setTimeout(() => {
      client.inspectDataset({ path: out }).then(
        (r) => live && setFound({ key, rows: r.stats.rows }),
        () => live && setFound({ key, rows: null }),
      );
    }, 300);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [client, out, enabled, key]);
  // An answer about another file, or from before the last synthesis, is not shown.
  return found?.key === key ? found.rows : null;
}
