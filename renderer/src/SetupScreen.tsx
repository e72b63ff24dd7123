/** First launch of the desktop app: the worker's Python environment being created, with progress. */
import { useEffect, useState } from "react";
import type { SetupEvent, WhetstoneBridge } from "./client/engine-client";

export function SetupScreen({ bridge, initial, onDone }: { bridge: WhetstoneBridge; initial: SetupEvent; onDone: () => void }) {
  const [state, setState] = useState(initial);
  const [lines, setLines] = useState<string[]>([initial.line]);
  useEffect(
    () =>
      bridge.onSetup?.((e) => {
        setState(e);
        setLines((l) => [...l, e.line].slice(-200));
        if (e.state === "done") onDone();
      }),
    [bridge, onDone],
  );
  return (
    <main className="setup">
      <h1>Setting up Whetstone</h1>
      <p>The first launch creates the Python environment the trainer runs in (PyTorch for this machine's GPU). It takes a few minutes and happens once.</p>
      <div className="progress">
        <progress aria-label="Setup progress" value={state.fraction} max={1} />
        <span>{Math.round(state.fraction * 100)}%</span>
      </div>
      {state.state === "failed" && <p role="alert" className="error-box">{state.line}</p>}
      <pre aria-label="Setup output" tabIndex={0}>{lines.join("\n")}</pre>
    </main>
  );
}
