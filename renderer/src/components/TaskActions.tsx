/** A task's start button (the children), its Cancel while it runs, and why it cannot start yet. */
import type { ReactNode } from "react";

export function TaskActions({ busy, gate, gateId, onCancel, children }: { busy: boolean; gate: string | null; gateId: string; onCancel: () => void; children: ReactNode }) {
  return (
    <>
      {children}
      {busy && (
        <button type="button" className="danger" onClick={onCancel}>
          Cancel
        </button>
      )}
      {gate && !busy && (
        <span id={gateId} className="muted small">
          {gate}
        </span>
      )}
    </>
  );
}
