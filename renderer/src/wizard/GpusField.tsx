/**
 * How many GPUs train the run together (the config's training.devices), shown on a machine with more
 * than one: 1 up to the count, or all of them. For a method that trains on one GPU so far the choice
 * is disabled, saying so; the draft keeps what was chosen for when the method changes back.
 */
import { useAppStore } from "../store/store";
import { trainsOnSeveralDevices } from "../../../engine/api/public";
import { useMachine } from "./use-machine";

export function GpusField() {
  const method = useAppStore((s) => s.draft.method);
  const devices = useAppStore((s) => s.draft.devices);
  const accumulation = useAppStore((s) => s.draft.gradientAccumulation);
  const update = useAppStore((s) => s.updateDraft);
  const gpus = useMachine()?.gpus ?? 0;
  if (gpus < 2) return null;
  const allowed = trainsOnSeveralDevices(method);
  const count = devices === "auto" ? gpus : devices;
  // Each step's micro-batches are dealt out among the GPUs: a remainder leaves some idle on every step.
  const help = !allowed
    ? `${method.toUpperCase()} trains on one GPU for now.`
    : count > 1 && accumulation % count !== 0
      ? `With ${count} GPUs, a gradient accumulation of ${count}, ${2 * count}, … keeps every GPU busy on every step.`
      : "Several GPUs share each step: the same training, faster.";
  return (
    <div className="field">
      <label htmlFor="f-devices">GPUs</label>
      <select id="f-devices" value={allowed ? String(devices) : "1"} disabled={!allowed} onChange={(e) => update({ devices: e.target.value === "auto" ? "auto" : Number(e.target.value) })}>
        {Array.from({ length: gpus }, (_, i) => (
          <option key={i + 1} value={String(i + 1)}>
            {i + 1}
          </option>
        ))}
        <option value="auto">All ({gpus})</option>
      </select>
      <small>{help}</small>
    </div>
  );
}
