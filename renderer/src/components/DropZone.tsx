/** Drag a file in, or press the button to pick one; keyboard users get the button. `name` labels the picker (default: the dataset). */
import { useRef, useState } from "react";

/** The files the engine reads as datasets, for a picker's `accept`. */
export const DATASET_FILES = ".jsonl,.ndjson,.json,.csv,.tsv,.parquet,.gz,.zst,.bz2,.xz";

export function DropZone({ onFile, accept, busy, label, name = "Dataset file", compact = false }: { onFile: (file: File) => void; accept: string; busy: boolean; label: string; name?: string; compact?: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  return (
    <div
      className={`dropzone${compact ? " compact" : ""}${over ? " over" : ""}`}
      data-testid={name === "Dataset file" ? "dropzone" : undefined}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        const f = e.dataTransfer.files[0];
        if (f) onFile(f);
      }}
    >
      <p>{busy ? "Reading the dataset…" : label}</p>
      <button type="button" onClick={() => input.current?.click()} disabled={busy}>
        {name === "Dataset file" ? "Choose a file…" : `Choose the ${name.toLowerCase()}…`}
      </button>
      <input
        ref={input}
        type="file"
        accept={accept}
        aria-label={name}
        hidden
        onChange={(e) => {
          const f = e.target.files?.[0];
          if (f) onFile(f);
          e.target.value = "";
        }}
      />
    </div>
  );
}
