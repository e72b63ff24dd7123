/** Drag a file in, or press the button to pick one; keyboard users get the button. */
import { useRef, useState } from "react";

export function DropZone({ onFile, accept, busy, label }: { onFile: (file: File) => void; accept: string; busy: boolean; label: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  return (
    <div
      className={over ? "dropzone over" : "dropzone"}
      data-testid="dropzone"
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
        Choose a file…
      </button>
      <input
        ref={input}
        type="file"
        accept={accept}
        aria-label="Dataset file"
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
