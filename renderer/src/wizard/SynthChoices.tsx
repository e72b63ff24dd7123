/**
 * Two parts of "Generate data with a model": the list of subjects the model drafts course syllabi
 * for (GLAN; the bundled list, the user's own file, or a copy of the bundled one to edit), and the
 * answers: how many per request, at which temperatures, from which other models (the base model,
 * finished runs of the same base), and what the judge keeps (the best, or best and worst as a
 * preference pair with a smallest score gap).
 */
import { useEffect, useState } from "react";
import type { ApiOutput } from "../../../engine/api/contract";
import { errorInfo, useClient } from "../client/context";
import { answersPlan, fileName, type SynthForm } from "../lib/synth";
import { Choice, FilePick, NumberField } from "./SynthFields";

type Set = (patch: Partial<SynthForm>) => void;

/** The folder of a full path (with its separator), or null. */
function folderOf(path: string): string | null {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut > 0 && /^(\/|[A-Za-z]:[\\/]|\\\\)/.test(path) ? path.slice(0, cut + 1) : null;
}

export function SubjectsFields({ form, set, out }: { form: SynthForm; set: Set; out: string }) {
  const client = useClient();
  const [copied, setCopied] = useState<{ path: string } | { error: string } | null>(null);
  const folder = folderOf(out);
  const copy = async () => {
    try {
      const { path } = await client.copySynthTaxonomy({ out: `${folder}glan-taxonomy.yaml` });
      set({ taxonomy: { path, name: fileName(path) } });
      setCopied({ path });
    } catch (e) {
      setCopied({ error: errorInfo(e).message });
    }
  };
  return (
    <fieldset>
      <legend>Subjects</legend>
      {!form.taxonomy && <p className="small">The bundled list of subjects: mathematics, computer science, natural sciences, humanities, writing, business and economics.</p>}
      <FilePick
        name="Subjects file"
        label="Drop your own list of subjects (a .yaml file of disciplines, their subjects and, if you want, each subject's topics), or pick one."
        accept=".yaml,.yml"
        value={form.taxonomy}
        onChange={(taxonomy) => {
          set({ taxonomy });
          setCopied(null);
        }}
      />
      <p className="row small">
        <button type="button" onClick={() => void copy()} disabled={folder === null}>
          Copy the bundled list to edit it
        </button>
        {folder === null && <span className="muted">Say where to save the rows first: the copy goes beside them.</span>}
      </p>
      {copied && "path" in copied && (
        <p className="ok small" data-testid="synth-taxonomy-copied">
          Copied to <code>{copied.path}</code>. Open it in a text editor, change the subjects, save, then generate: this copy is used from now on.
        </p>
      )}
      {copied && "error" in copied && <p role="alert">{copied.error}</p>}
      <label className="choice">
        <input type="checkbox" checked={form.draftAll} onChange={(e) => set({ draftAll: e.target.checked })} />
        <span>
          Let the model draft a syllabus for subjects that list their topics too
          <br />
          <span className="muted small">Otherwise a subject's listed topics are its syllabus, and the model drafts one only for subjects without topics. Drafted syllabi are saved beside the rows, where you can read and edit them.</span>
        </span>
      </label>
    </fieldset>
  );
}

type Chainable = ApiOutput<"startingPoints">["runs"][number];

export function AnswerFields({ form, set, modelPath, writerRun }: { form: SynthForm; set: Set; modelPath: string; writerRun: string | null }) {
  const client = useClient();
  const [runs, setRuns] = useState<Chainable[]>([]);
  useEffect(() => {
    if (!client.has("startingPoints")) return;
    let live = true;
    client.startingPoints({}).then(
      (p) => live && setRuns(p.runs),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [client]);
  const others = runs.filter((r) => r.base === modelPath && r.id !== writerRun);
  const plan = answersPlan(form, writerRun !== null);
  const choosing = plan.kept !== "one";
  const toggleRun = (id: string, on: boolean) => set({ alsoRuns: on ? [...form.alsoRuns, id] : form.alsoRuns.filter((r) => r !== id) });
  return (
    <details className="advanced" data-testid="synth-answers">
      <summary>Several answers, and a judge to choose</summary>
      <div className="grid2">
        <NumberField id="synth-answers" label="Answers to each request" value={form.answers} onChange={(answers) => set({ answers })} help="1: the model's one answer is kept. 2 or more: a judge compares every two of them, in both orders, and keeps the best." />
        <div className="field">
          <label htmlFor="synth-temperatures">Answer temperatures</label>
          <input id="synth-temperatures" value={form.temperatures} onChange={(e) => set({ temperatures: e.target.value })} spellCheck={false} />
          <small>One or more, separated by commas, used in turn (higher: more varied answers).</small>
        </div>
      </div>
      {(writerRun !== null || others.length > 0) && (
        <fieldset>
          <legend>Also answered by</legend>
          {writerRun !== null && (
            <label className="choice">
              <input type="checkbox" checked={form.alsoBase} onChange={(e) => set({ alsoBase: e.target.checked })} />
              <span>
                The base model <code>{fileName(modelPath)}</code>
              </span>
            </label>
          )}
          {others.map((r) => (
            <label className="choice" key={r.id}>
              <input type="checkbox" checked={form.alsoRuns.includes(r.id)} onChange={(e) => toggleRun(r.id, e.target.checked)} />
              <span>
                Your finished run <strong>{r.name}</strong> <span className="muted small">{r.method.toUpperCase()} · {r.finished_at ? new Date(r.finished_at).toLocaleString() : "–"}</span>
              </span>
            </label>
          ))}
        </fieldset>
      )}
      <p className="small muted" data-testid="synth-answers-plan">
        {choosing
          ? `${Math.max(plan.answers, 2)} answers to each request, from ${plan.sources === 1 ? "one model at one temperature" : `${plan.sources} combinations of model and temperature, in turn`}; the judge keeps ${form.keep === "pairs" ? "the best and the worst as a pair" : "the best"}.`
          : "One answer to each request, kept as it is."}
      </p>
      {choosing && (
        <>
          <fieldset>
            <legend>What to keep</legend>
            <Choice name="synth-keep" checked={form.keep === "best"} onChange={() => set({ keep: "best" })} label="The best answer">
              For supervised fine-tuning: each row is the request and the answer the judge scored highest.
            </Choice>
            <Choice name="synth-keep" checked={form.keep === "pairs"} onChange={() => set({ keep: "pairs" })} label="The best and the worst answer, as a preference pair">
              For DPO, SimPO or ORPO: each row is the request, the answer to prefer and the one to avoid.
            </Choice>
          </fieldset>
          <div className="grid2">
            {form.keep === "pairs" && (
              <NumberField id="synth-margin" label="Smallest score gap" value={form.minMargin} onChange={(minMargin) => set({ minMargin })} help="From 0 to 1: a pair whose two answers the judge scores closer than this is left out (too alike to teach a preference)." />
            )}
            <div className="field">
              <label htmlFor="synth-judge">Judge</label>
              <input id="synth-judge" value={form.judge} onChange={(e) => set({ judge: e.target.value })} placeholder="default judge (downloaded once)" spellCheck={false} />
              <small>A local judge folder or the address of an OpenAI-compatible server; empty for the default judge.</small>
            </div>
          </div>
        </>
      )}
    </details>
  );
}
