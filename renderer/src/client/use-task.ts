/** A long engine call the UI started (audit, export, evaluation, download), tracked in the jobs slice. */
import { useCallback } from "react";
import { useAppStore } from "../store/store";
import { errorInfo } from "./context";

export function useTask(key: string) {
  const task = useAppStore((s) => s.tasks[key]);
  const run = useCallback(
    async (fn: () => Promise<void>) => {
      const s = useAppStore.getState();
      s.startTask(key);
      try {
        await fn();
        s.finishTask(key);
      } catch (e) {
        s.finishTask(key, errorInfo(e));
      }
    },
    [key],
  );
  return { busy: task?.state === "running", error: task?.error ?? null, run };
}
