/** Electron main process: wiring only (window, app protocol, first-launch setup, hub token, engine, IPC). */
import { app, BrowserWindow, ipcMain, net, protocol, safeStorage, session, shell } from "electron";
import { join, normalize, sep } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { z } from "zod";
import { Engine } from "../engine/api/engine";
import { layout, PROJECT_ROOT } from "../engine/paths";
import { APP_ORIGIN, CHANNELS, createRegistrar, isAppUrl, registerEngineIpc } from "./ipc";
import { CONTENT_SECURITY_POLICY, isAllowedExternal, windowOptions } from "./window";
import { needsSetup, runSetup, setupEnv, type SetupEvent } from "./first-launch";
import { chooseTokenStore, HubTokenService, registerTokenIpc } from "./hub-token";

const RENDERER = join(PROJECT_ROOT, "renderer", "dist");
const here = fileURLToPath(new URL(".", import.meta.url));
// A packaged app keeps its Python environment in the user's data folder (engine/util/layout.ts).
if (app.isPackaged) process.env.WHETSTONE_USER_DATA = app.getPath("userData");
const LAYOUT = layout();

protocol.registerSchemesAsPrivileged([{ scheme: "app", privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

app.on("web-contents-created", (_e, contents) => {
  contents.on("will-navigate", (e, url) => {
    if (!isAppUrl(url)) e.preventDefault();
  });
  contents.on("will-attach-webview", (e) => e.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternal(url)) void shell.openExternal(url);
    return { action: "deny" };
  });
});

app.whenReady().then(async () => {
  protocol.handle("app", async (request) => {
    const path = normalize(decodeURIComponent(new URL(request.url).pathname)).replace(/^([/\\])+/, "") || "index.html";
    const file = join(RENDERER, path);
    if (!file.startsWith(RENDERER + sep)) return new Response("forbidden", { status: 403 });
    const res = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(res.headers);
    headers.set("content-security-policy", CONTENT_SECURITY_POLICY);
    headers.set("x-content-type-options", "nosniff");
    return new Response(res.body, { status: res.status, headers });
  });
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
      process.execPath,
      setupEnv(LAYOUT),
    );
  }
  const engine = new Engine();
  registerEngineIpc(registrar, engine, windows);
  app.on("before-quit", () => void engine.close());
});

app.on("window-all-closed", () => app.quit());
