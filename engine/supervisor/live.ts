/**
 * The worker processes of this process that have not exited, for an immediate stop (a second
 * Ctrl-C). Free of imports beyond Node's, so the CLI's start-up does not load the protocol's schemas.
 */
interface Killable {
  kill(signal?: NodeJS.Signals): boolean;
}

const live = new Set<Killable>();

export function trackWorker(child: Killable): () => void {
  live.add(child);
  return () => void live.delete(child);
}

/** Signal every live worker at once; how many there were. */
export function killAllWorkers(signal: NodeJS.Signals = "SIGKILL"): number {
  for (const child of live) child.kill(signal);
  return live.size;
}
