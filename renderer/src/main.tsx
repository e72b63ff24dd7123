import { createRoot } from "react-dom/client";
import { App } from "./App";
import { defaultClient } from "./client/engine-client";

createRoot(document.getElementById("root")!).render(<App client={defaultClient()} />);
