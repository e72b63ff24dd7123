/** Electron main process: wiring only (window, app protocol, first-launch setup, hub token, engine, IPC). */
import { app, BrowserWindow, ipcMain, net, protocol, safeStorage, session, shell, utilityProcess } from "electron";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { Engine } from "../engine/api/engine";
import { layout, PROJECT_ROOT } from "../engine/paths";
import { APP_ORIGIN, CHANNELS, createRegistrar, registerEngineIpc } from "./ipc";
import { windowOptions } from "./window";
import { hardenContents } from "./navigation";
import { appResponse } from "./app-protocol";
import { needsSetup, runSetup, setupEnv, type ForkSetup, type SetupEvent } from "./first-launch";
import { chooseTokenStore, HubTokenService, registerTokenIpc } from "./hub-token";

const RENDERER = join(PROJECT_ROOT, "renderer", "dist");
const here = fileURLToPath(new URL(".", import.meta.url));
// A packaged app keeps its Python environment in the user's data folder (engine/util/layout.ts).
if (app.isPackaged) process.env.WHETSTONE_USER_DATA = app.getPath("userData");
const LAYOUT = layout();

protocol.registerSchemesAsPrivileged([{ scheme: "app", privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

app.on("web-contents-created", (_e, contents) => hardenContents(contents, (url) => void shell.openExternal(url)));

// The setup script in a utility process: the packaged app's RunAsNode fuse is off.
const forkSetup: ForkSetup = (script, env) => utilityProcess.fork(script, [], { env, stdio: "pipe", serviceName: "Whetstone setup" });

app.whenReady().then(async () => {
  protocol.handle("app", (request) => appResponse(request.url, RENDERER, (fileUrl) => net.fetch(fileUrl)));
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);

  const windows = () => BrowserWindow.getAllWindows().map((w) => w.webContents);
  const registrar = createRegistrar(ipcMain, windows);
  // Before the engine exists: the token reaches it (and the worker) as HF_TOKEN in this process's environment.
  const tokens = new HubTokenService(chooseTokenStore(safeStorage, app.getPath("userData"), process.platform));
  registerTokenIpc(registrar, tokens);
  let setup: SetupEvent | null = needsSetup() ? { state: "running", line: "Creating the worker's Python environment (first launch)…", fraction: 0 } : null;
  registrar.handle(CHANNELS.setupState, z.tuple([]), () => setup);

  const win = new BrowserWindow(windowOptions(join(here, "preload.cjs")));
  win.once("ready-to-show", () => win.show());
  await win.loadURL(`${APP_ORIGIN}/index.html`);

  if (setup) {
    await runSetup(
      LAYOUT.setupScript,
      (e) => {
        setup = e;
        for (const wc of windows()) wc.send(CHANNELS.setupEvent, e);
      },
      forkSetup,
      setupEnv(LAYOUT),
    );
  }
  const engine = new Engine();
  registerEngineIpc(registrar, engine, windows);
  app.on("before-quit", () => void engine.close());
});

app.on("window-all-closed", () => app.quit());
