/** DPO, SimPO and ORPO settings, each with what it does and its default (engine/config/schema.ts PREFERENCE_FIELDS). */
import { useAppStore } from "../store/store";
import { PREFERENCE_SETTINGS, type PreferenceDraft } from "../lib/draft";
import { PREFERENCE_FIELDS } from "../../../engine/api/public";

const INFO: Record<keyof PreferenceDraft, { label: string; step: number; min: number; max: number; help: Record<string, string> }> = {
  beta: {
    label: "β (beta)",
    step: 0.01,
    min: 0.001,
    max: 100,
    help: {
      dpo: "How far the model may move from the starting point: small values (0.1) let it follow the preferences more; larger values keep it close to where it started.",
      simpo: "How sharply the reward separates chosen from rejected answers: the paper uses 2 to 10.",
      kto: "How far the model may move from the starting point: small values let it follow the labels more; larger values keep it close to where it started.",
    },
  },
  label_smoothing: { label: "Label smoothing", step: 0.01, min: 0, max: 0.49, help: { dpo: "How much to doubt each pair's label: 0 trusts every pair; 0.1 suits noisy preferences (some pairs may be the wrong way round)." } },
  gamma_beta_ratio: { label: "Target margin (γ/β)", step: 0.05, min: 0, max: 10, help: { simpo: "How much better the chosen answer must score than the rejected one before a pair stops counting, as a share of β (0.3 to 0.8 in the paper)." } },
  lambda: { label: "λ (lambda)", step: 0.01, min: 0.001, max: 100, help: { orpo: "Weight of the preference term beside the ordinary SFT loss: higher pushes harder away from rejected answers (0.1 in the paper)." } },
  desirable_weight: { label: "Weight of good answers", step: 0.05, min: 0.01, max: 100, help: { kto: "How much each answer labelled good counts. With more bad than good answers, raise it so good × count stays 1 to 4/3 times bad × count (the paper's advice)." } },
  undesirable_weight: { label: "Weight of bad answers", step: 0.05, min: 0.01, max: 100, help: { kto: "How much each answer labelled bad counts." } },
};

export function PreferenceSettings() {
  const method = useAppStore((s) => s.draft.method);
  const values = useAppStore((s) => s.draft.preference);
  const update = useAppStore((s) => s.updateDraft);
  const defaults = PREFERENCE_FIELDS[method as keyof typeof PREFERENCE_FIELDS] as Record<string, number | boolean>;
  const fields = PREFERENCE_SETTINGS[method] ?? [];
  return (
    <fieldset aria-label={`${method.toUpperCase()} settings`}>
      <legend>{method.toUpperCase()} settings</legend>
      <div className="grid2">
        {fields.map((key) => {
          const info = INFO[key];
          return (
            <div className="field" key={key}>
              <label htmlFor={`pref-${key}`}>{info.label}</label>
              <input
                id={`pref-${key}`}
                type="number"
                step={info.step}
                min={info.min}
                max={info.max}
                value={values[key] ?? (defaults[key] as number)}
                onChange={(e) => update({ preference: { ...values, [key]: e.target.value === "" ? undefined : Number(e.target.value) } })}
              />
              <small>
                {info.help[method]} Default {String(defaults[key])}.
              </small>
            </div>
          );
        })}
      </div>
    </fieldset>
  );
}
