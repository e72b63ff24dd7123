/** The preference methods' settings (DPO, SimPO, ORPO, KTO, GRPO), each with what it does and its default (engine/config/methods.ts). */
import { useAppStore } from "../store/store";
import { PREFERENCE_SETTINGS, type PreferenceDraft } from "../lib/draft";
import { PREFERENCE_FIELDS } from "../../../engine/api/public";

type Info = { label: string; help: Record<string, string> } & ({ step: number; min: number; max: number } | { options: [string, string][] });

const INFO: Record<keyof PreferenceDraft, Info> = {
  beta: {
    label: "β (beta)",
    step: 0.01,
    min: 0.001,
    max: 100,
    help: {
      dpo: "How far the model may move from the starting point: small values (0.1) let it follow the preferences more; larger values keep it close to where it started.",
      simpo: "How sharply the reward separates chosen from rejected answers: the paper uses 2 to 10.",
      kto: "How far the model may move from the starting point: small values let it follow the labels more; larger values keep it close to where it started.",
      grpo: "How strongly the model is held near where it started (a penalty on drifting away): 0 turns it off and needs no second copy of the model.",
    },
  },
  label_smoothing: { label: "Label smoothing", step: 0.01, min: 0, max: 0.49, help: { dpo: "How much to doubt each pair's label: 0 trusts every pair; 0.1 suits noisy preferences (some pairs may be the wrong way round)." } },
  gamma_beta_ratio: { label: "Target margin (γ/β)", step: 0.05, min: 0, max: 10, help: { simpo: "How much better the chosen answer must score than the rejected one before a pair stops counting, as a share of β (0.3 to 0.8 in the paper)." } },
  lambda: { label: "λ (lambda)", step: 0.01, min: 0.001, max: 100, help: { orpo: "Weight of the preference term beside the ordinary SFT loss: higher pushes harder away from rejected answers (0.1 in the paper)." } },
  desirable_weight: { label: "Weight of good answers", step: 0.05, min: 0.01, max: 100, help: { kto: "How much each answer labelled good counts. With more bad than good answers, raise it so good × count stays 1 to 4/3 times bad × count (the paper's advice)." } },
  undesirable_weight: { label: "Weight of bad answers", step: 0.05, min: 0.01, max: 100, help: { kto: "How much each answer labelled bad counts." } },
  num_generations: { label: "Answers per prompt", step: 1, min: 2, max: 256, help: { grpo: "How many answers the model writes for each prompt; each is scored against the others of its group. More gives a steadier signal and costs time and memory." } },
  max_completion_tokens: { label: "Longest answer (tokens)", step: 16, min: 1, max: 1048576, help: { grpo: "Where an answer is cut off. Leave room for the prompt within the max length (Settings)." } },
  temperature: { label: "Sampling temperature", step: 0.1, min: 0.1, max: 10, help: { grpo: "How adventurous the sampled answers are: 1 is the model's own distribution; lower gives more alike answers, which teach less." } },
  epsilon: { label: "Clip range", step: 0.05, min: 0.01, max: 1, help: { grpo: "How far one update may move the chance of an answer (0.2: by a fifth): keeps the training stable." } },
  num_iterations: { label: "Updates per round", step: 1, min: 1, max: 64, help: { grpo: "Training steps on each round of sampled answers before sampling again: more reuses the answers, fewer keeps them fresh." } },
  loss_type: {
    label: "Loss averaging",
    options: [
      ["grpo", "Per answer (the paper)"],
      ["dr_grpo", "At full length (Dr. GRPO)"],
      ["bnpo", "Every token of the batch"],
    ],
    help: { grpo: "How each answer's tokens count in the loss: per answer (each answer weighs the same, so long answers' tokens count less), or at the full answer length (no bias towards long or short answers), or over every token of the batch." },
  },
  scale_rewards: {
    label: "Reward scaling",
    options: [
      ["group", "Per prompt (the paper)"],
      ["batch", "Over the whole batch"],
      ["none", "None (Dr. GRPO)"],
    ],
    help: { grpo: "How a reward above its group's mean turns into a push: divided by the spread of the prompt's answers (easy and hard prompts weigh the same), of the whole batch, or not at all." },
  },
};

export function PreferenceSettings() {
  const method = useAppStore((s) => s.draft.method);
  const values = useAppStore((s) => s.draft.preference);
  const update = useAppStore((s) => s.updateDraft);
  const defaults = PREFERENCE_FIELDS[method as keyof typeof PREFERENCE_FIELDS] as Record<string, number | boolean | string>;
  const fields = PREFERENCE_SETTINGS[method] ?? [];
  const set = (key: string, value: number | string | undefined) => update({ preference: { ...values, [key]: value } });
  return (
    <fieldset aria-label={`${method.toUpperCase()} settings`}>
      <legend>{method.toUpperCase()} settings</legend>
      <div className="grid2">
        {fields.map((key) => {
          const info = INFO[key];
          const value = values[key] ?? defaults[key];
          return (
            <div className="field" key={key}>
              <label htmlFor={`pref-${key}`}>{info.label}</label>
              {"options" in info ? (
                <select id={`pref-${key}`} value={String(value)} onChange={(e) => set(key, e.target.value)}>
                  {info.options.map(([v, label]) => (
                    <option key={v} value={v}>
                      {label}
                    </option>
                  ))}
                </select>
              ) : (
                <input id={`pref-${key}`} type="number" step={info.step} min={method === "grpo" && key === "beta" ? 0 : info.min} max={info.max} value={value as number} onChange={(e) => set(key, e.target.value === "" ? undefined : Number(e.target.value))} />
              )}
              <small>
                {info.help[method]} Default {"options" in info ? (info.options.find(([v]) => v === defaults[key])?.[1] ?? String(defaults[key])).toLowerCase() : String(defaults[key])}.
              </small>
            </div>
          );
        })}
      </div>
    </fieldset>
  );
}
