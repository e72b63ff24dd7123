/** The app shell: navigation, theme, engine connection; views below read the store narrowly. */
import { useEffect, useState } from "react";
import { applyEngineEvent, useAppStore } from "./store/store";
import { ClientContext } from "./client/context";
import type { EngineClient } from "./client/engine-client";
import { Wizard } from "./wizard/Wizard";
import { RunsList } from "./runs/RunsList";
import { RunDetail } from "./runs/RunDetail";
import { Compare } from "./runs/Compare";
import { SweepPage } from "./runs/SweepView";
import { RoundsPage } from "./runs/RoundsView";
import { Playground } from "./playground/Playground";
import type { Theme } from "./store/ui-slice";

export function App({ client }: { client: EngineClient }) {
  const view = useAppStore((s) => s.view);
  const theme = useAppStore((s) => s.theme);
  const [home, setHome] = useState<string | null>(null);
  const [offline, setOffline] = useState<string | null>(null);

  useEffect(() => {
    const s = useAppStore.getState();
    client.health({}).then((h) => setHome(h.home), (e: Error) => setOffline(e.message));
    client.listRuns({}).then(s.setRuns, (e: Error) => s.setRunsError(e.message));
    if (client.has("listSweeps")) client.listSweeps({}).then(s.setSweeps, (e: Error) => s.setSweepsError(e.message));
    if (client.has("listRounds")) client.listRounds({}).then(s.setRoundLoops, (e: Error) => s.setRoundLoopsError(e.message));
    return client.subscribe((e) => applyEngineEvent(e));
  }, [client]);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);

  const { navigate, setTheme } = useAppStore.getState();
  const tab = (name: "wizard" | "runs" | "playground", label: string) => (
    <button type="button" aria-current={view.name === name || (name === "runs" && ["run", "compare", "sweep", "rounds"].includes(view.name)) ? "page" : undefined} onClick={() => navigate({ name })}>
      {label}
    </button>
  );
  return (
    <ClientContext.Provider value={client}>
      <header className="topbar">
        <h1>
          <span aria-hidden="true">◆</span> Whetstone
        </h1>
        <nav aria-label="Main">
          {tab("wizard", "New run")}
          {tab("runs", "Runs")}
          {client.has("generate") && tab("playground", "Playground")}
        </nav>
        <label className="theme">
          Theme{" "}
          <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
            <option value="system">System</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
      </header>
      <main>
        {offline && (
          <p role="alert" className="error-box">
            The engine does not answer: {offline}. Open the URL `npm start` printed (it carries the access token).
          </p>
        )}
        {view.name === "wizard" && <Wizard home={home} />}
        {view.name === "runs" && <RunsList />}
        {view.name === "run" && <RunDetail id={view.id} home={home} />}
        {view.name === "sweep" && <SweepPage id={view.id} />}
        {view.name === "rounds" && <RoundsPage id={view.id} />}
        {view.name === "compare" && <Compare />}
        {view.name === "playground" && <Playground />}
      </main>
    </ClientContext.Provider>
  );
}
