/**
 * Step 3: where training starts (the base model, or a finished run's adapter or model: SFT then
 * DPO), what to optimize, how much of the model to train, each choice with what it is for; the
 * preference methods' settings in words.
 */
import { useAppStore } from "../store/store";
import { FINETUNES, METHODS, chainedName, goldfishApplies, isPreferenceMethod, type Draft } from "../lib/draft";
import { PREFERENCE_FIELDS } from "../../../engine/api/public";
import { SamplePreviewPanel } from "./DataStep";
import { StartFromPicker } from "./StartFromPicker";
import { PreferenceSettings } from "./PreferenceSettings";
import { RewardsEditor } from "./RewardsEditor";

const METHOD_INFO: Record<string, [string, string]> = {
  sft: ["SFT", "Supervised fine-tuning: learn to answer like the assistant turns in your conversations. Start here."],
  dpo: ["DPO", "Direct preference optimization: learn from chosen/rejected answer pairs, against a frozen reference model (the starting point). Usually run after SFT: start from the SFT run above."],
  simpo: ["SimPO", "Reference-free preference tuning with a length-normalized reward: cheaper than DPO (no reference model), needs pairs."],
  orpo: ["ORPO", "SFT and preference in one loss (odds ratio), no reference model: one stage instead of two, straight from the base model."],
  kto: ["KTO", "Learn from single answers labelled good or bad (no pairs needed), against a frozen reference model: for thumbs-up/down feedback. Usually run after SFT."],
  grpo: ["GRPO", "Reinforcement learning with rewards you can check: the model writes several answers to each prompt, the rewards score them (the right number, the right format), and it learns to write the better ones. Needs only prompts and their expected answers; best after SFT."],
};
const FINETUNE_INFO: Record<string, [string, string]> = {
  lora: ["LoRA", "Train small adapter matrices beside frozen weights: a fraction of the memory, fast, the adapter is megabytes."],
  qlora: ["QLoRA", "LoRA over 4-bit quantized base weights: the least memory, somewhat slower; CUDA only."],
  full: ["Full", "Train every weight: the most capacity and the most memory (weights, gradients and AdamW state in fp32)."],
};

export function MethodStep() {
  const d = useAppStore((s) => s.draft);
  const update = useAppStore((s) => s.updateDraft);
  const longestPrompt = useAppStore((s) => s.report?.stats.tokens?.length.max ?? null);
  return (
    <>
      <StartFromPicker />
      <Choices legend="Method" name="method" info={METHOD_INFO} available={METHODS} value={d.method} onChange={(id) => update({ method: id, name: chainedName(d, id), ...(isPreferenceMethod(id) ? { neftune: false } : {}), ...(id === "grpo" ? { maxLength: grpoMaxLength(d, longestPrompt) } : {}) })} />
      {isPreferenceMethod(d.method) && <PreferenceSettings />}
      {d.method === "grpo" && <RewardsEditor />}
      {d.initFrom && (
        <div className="field">
          <label htmlFor="chain-name">Run name</label>
          <input id="chain-name" value={d.name} onChange={(e) => update({ name: e.target.value })} spellCheck={false} />
          <small>Named after the run it starts from and its method; change it if you like.</small>
        </div>
      )}
      <Choices legend="Fine-tuning" name="finetune" info={FINETUNE_INFO} available={FINETUNES} value={d.finetune} onChange={(id) => update({ finetune: id as Draft["finetune"], learningRate: id === "full" ? 2e-5 : 2e-4 })} />
      <fieldset>
        <legend>Regularization</legend>
        <label className="choice">
          <input type="checkbox" checked={d.neftune} onChange={(e) => update({ neftune: e.target.checked })} />
          <span>
            <strong>NEFTune</strong> Adds small random noise to the input embeddings while training, which often makes answers more fluent on small instruction sets. Leave on for real models; turn off for tiny ones{isPreferenceMethod(d.method) ? " (off by default for preference tuning)" : ""}.
          </span>
        </label>
        <label className="choice">
          <input type="checkbox" checked={d.goldfish && goldfishApplies(d.method)} disabled={!goldfishApplies(d.method)} onChange={(e) => update({ goldfish: e.target.checked })} />
          <span>
            <strong>Goldfish loss</strong> Leaves about one in {d.goldfishK} answer tokens out of the loss, the same ones wherever a passage repeats, so the model cannot learn your data word for word. Use it when the data is private or copyrighted.
            {!goldfishApplies(d.method) && <em> {d.method.toUpperCase()} has no SFT loss term to drop tokens from (SFT and ORPO do).</em>}
          </span>
        </label>
        {d.goldfish && goldfishApplies(d.method) && (
          <label className="inline">
            Drop one token in{" "}
            <input type="number" min={2} max={64} value={d.goldfishK} onChange={(e) => update({ goldfishK: Math.max(2, Number(e.target.value) || 4) })} aria-label="Goldfish k" />
          </label>
        )}
      </fieldset>
      <SamplePreviewPanel />
    </>
  );
}

/**
 * GRPO's max length holds the prompt and the sampled answer: at least the longest sample of the data
 * (a conversation holds its answer too: an upper bound) plus the answer budget, in steps of 64.
 */
function grpoMaxLength(d: Draft, longest: number | null): number {
  const answer = Number(d.preference.max_completion_tokens ?? PREFERENCE_FIELDS.grpo.max_completion_tokens);
  return Math.max(d.maxLength, Math.ceil(((longest ?? 256) + answer) / 64) * 64);
}

/** Radio choices with a sentence each; those this engine build lacks are shown disabled, saying so. */
function Choices(p: { legend: string; name: string; info: Record<string, [string, string]>; available: readonly string[]; value: string; onChange: (id: string) => void }) {
  return (
    <fieldset>
      <legend>{p.legend}</legend>
      {Object.entries(p.info).map(([id, [label, text]]) => {
        const missing = !p.available.includes(id);
        return (
          <label key={id} className={missing ? "choice disabled" : "choice"}>
            <input type="radio" name={p.name} value={id} checked={p.value === id} disabled={missing} onChange={() => p.onChange(id)} />
            <span>
              <strong>{label}</strong> {text}
              {missing && <em> Not in this engine build yet.</em>}
            </span>
          </label>
        );
      })}
    </fieldset>
  );
}
