/** Electron main process: wiring only (window, app protocol, engine, IPC). */
import { app, BrowserWindow, ipcMain, net, protocol, session, shell } from "electron";
import { join, normalize, sep } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { Engine } from "../engine/api/engine";
import { PROJECT_ROOT } from "../engine/paths";
import { APP_ORIGIN, registerIpc } from "./ipc";
import { isAllowedExternal, windowOptions } from "./window";

const RENDERER = join(PROJECT_ROOT, "renderer", "dist");
const here = fileURLToPath(new URL(".", import.meta.url));

protocol.registerSchemesAsPrivileged([{ scheme: "app", privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

app.whenReady().then(() => {
  protocol.handle("app", (request) => {
    const path = normalize(decodeURIComponent(new URL(request.url).pathname)).replace(/^([/\\])+/, "") || "index.html";
    const file = join(RENDERER, path);
    if (!file.startsWith(RENDERER + sep)) return new Response("forbidden", { status: 403 });
    return net.fetch(pathToFileURL(file).toString());
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, callback) => callback(false));

  const engine = new Engine();
  registerIpc(ipcMain, engine, () => BrowserWindow.getAllWindows().map((w) => w.webContents));

  const win = new BrowserWindow(windowOptions(join(here, "preload.cjs")));
  win.webContents.on("will-navigate", (e, url) => {
    if (!url.startsWith(APP_ORIGIN)) e.preventDefault();
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternal(url)) void shell.openExternal(url);
    return { action: "deny" };
  });
  win.once("ready-to-show", () => win.show());
  void win.loadURL(`${APP_ORIGIN}/index.html`);

  app.on("before-quit", () => void engine.close());
});

app.on("window-all-closed", () => app.quit());
