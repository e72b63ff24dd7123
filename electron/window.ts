/** The app window and its hardening (Electron's security checklist). */
import type { BrowserWindowConstructorOptions } from "electron";

/** The page may load only its own scripts and talk only to itself (the engine is behind IPC); the same policy as browser mode. */
export { CONTENT_SECURITY_POLICY } from "../engine/server/csp";

export function windowOptions(preload: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 860,
    minWidth: 900,
    minHeight: 600,
    title: "Whetstone",
    show: false,
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
    },
  };
}

const EXTERNAL_ALLOWLIST = ["huggingface.co", "github.com", "pytorch.org"];

export function isAllowedExternal(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "https:" && EXTERNAL_ALLOWLIST.some((h) => u.hostname === h || u.hostname.endsWith(`.${h}`));
  } catch {
    return false;
  }
}
