/** The synthesis panel's small fields: a radio choice with its sentence, a number with help, a file for the engine to read. */
import { useState } from "react";
import { errorInfo, useClient } from "../client/context";
import { DATASET_FILES, DropZone } from "../components/DropZone";

export function Choice({ name, checked, onChange, label, children }: { name: string; checked: boolean; onChange: () => void; label: string; children: React.ReactNode }) {
  return (
    <label className="choice">
      <input type="radio" name={name} checked={checked} onChange={onChange} />
      <span>
        <strong>{label}</strong>
        <br />
        <span className="muted small">{children}</span>
      </span>
    </label>
  );
}

export function NumberField({ id, label, value, onChange, help }: { id: string; label: string; value: string; onChange: (v: string) => void; help: string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="number" min={0} value={value} onChange={(e) => onChange(e.target.value)} />
      <small>{help}</small>
    </div>
  );
}


/** A file for the engine to read, picked the way the Data step picks its dataset (uploaded in a browser). */
export function FilePick({ name, label, value, onChange, accept = DATASET_FILES }: { name: string; label: string; accept?: string; value: { path: string; name: string } | null; onChange: (v: { path: string; name: string } | null) => void }) {
  const client = useClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const onFile = async (file: File) => {
    setBusy(true);
    setError(null);
    try {
      const stored = await client.fileForEngine(file);
      onChange({ path: stored.path, name: file.name });
    } catch (e) {
      setError(errorInfo(e).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="field">
      <DropZone compact name={name} onFile={(f) => void onFile(f)} accept={accept} busy={busy} label={label} />
      {value && (
        <p className="row small">
          <span>
            {name}: <strong>{value.name}</strong>
          </span>
          <button type="button" onClick={() => onChange(null)}>
            Remove
          </button>
        </p>
      )}
      {error && <p role="alert">{error}</p>}
    </div>
  );
}
