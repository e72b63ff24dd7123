/**
 * What the pages of jobs that drive runs (a sweep, a round loop) share: the job read once from the
 * engine on mount into the store (events keep it current after that), its Cancel / Resume actions
 * with which one is under way and their error, and the page around the view with its way back to
 * the runs list.
 */
import { useEffect, useState, type ReactNode } from "react";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import type { EngineClient } from "../client/engine-client";

export function useJob<T, A extends string>(load: (client: EngineClient) => Promise<T>, store: (job: T) => void, id: string) {
  const client = useClient();
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);
  const [busy, setBusy] = useState<A | null>(null);

  useEffect(() => {
    load(client).then(store, (e) => setError(errorInfo(e)));
    // `load` and `store` are written inline by the caller; the job is the id's.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, id]);

  /** A button's handler: `what` is under way until `fn` answers; its answer goes into the store. */
  const act = (what: A, fn: () => Promise<T>) => async () => {
    setBusy(what);
    setError(null);
    try {
      store(await fn());
    } catch (e) {
      setError(errorInfo(e));
    } finally {
      setBusy(null);
    }
  };
  return { client, error, busy, act };
}

/** A job's own page (from the runs list): a way back, its title, and its view. */
export function JobPage({ titleId, title, children }: { titleId: string; title: string; children: ReactNode }) {
  return (
    <section aria-labelledby={titleId}>
      <div className="row">
        <button type="button" onClick={() => useAppStore.getState().navigate({ name: "runs" })}>
          ← Runs
        </button>
        <h2 id={titleId}>{title}</h2>
      </div>
      {children}
    </section>
  );
}
