import { createRoot } from "react-dom/client";
import { App } from "./App";
import { SetupScreen } from "./SetupScreen";
import { defaultClient, type WhetstoneBridge } from "./client/engine-client";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);
const bridge = (window as Window & { whetstone?: WhetstoneBridge }).whetstone;
const start = () => root.render(<App client={defaultClient()} />);

// Inside Electron, the first launch may still be creating the worker's Python environment.
if (bridge?.setupState) {
  void bridge.setupState().then((setup) => (setup && setup.state !== "done" ? root.render(<SetupScreen bridge={bridge} initial={setup} onDone={start} />) : start()));
} else start();
