import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { windowOptions, isAllowedExternal, CONTENT_SECURITY_POLICY } from "../../electron/window";
import { isTrustedSender, APP_ORIGIN } from "../../electron/ipc";
import { PROJECT_ROOT } from "../../engine/paths";

describe("Electron hardening", () => {
  it("creates windows with isolation and sandbox on and Node off", () => {
    const wp = windowOptions("/app/preload.cjs").webPreferences!;
    expect(wp).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webSecurity: true, webviewTag: false, allowRunningInsecureContent: false });
    expect(wp.preload).toBe("/app/preload.cjs");
  });

  it("serves the UI under a strict Content-Security-Policy", () => {
    const directives = Object.fromEntries(CONTENT_SECURITY_POLICY.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(" ")]));
    expect(directives["default-src"]).toBe("'self'");
    expect(directives["script-src"]).toBe("'self'");
    expect(directives["object-src"]).toBe("'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|\*/);
  });

  it("exposes named methods only in the preload, never ipcRenderer itself", () => {
    const preload = readFileSync(join(PROJECT_ROOT, "electron/preload.ts"), "utf8");
    expect(preload).toMatch(/exposeInMainWorld\("whetstone"/);
    expect(preload).not.toMatch(/exposeInMainWorld\([^)]*ipcRenderer\s*[,)]/);
    expect(preload).not.toMatch(/invoke\(\s*(channel|method)\s*,/);
    expect(preload).toMatch(/webUtils\.getPathForFile/);
  });

  it("accepts IPC only from the app's own windows on the app's own origin", () => {
    const allowed = new Set([7]);
    expect(isTrustedSender({ senderFrame: { url: `${APP_ORIGIN}/index.html` } } as never, allowed, 7)).toBe(true);
    expect(isTrustedSender({ senderFrame: { url: `${APP_ORIGIN}/index.html` } } as never, allowed, 8)).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: "https://evil.example/" } } as never, allowed, 7)).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: "app://whetstone.evil/" } } as never, allowed, 7)).toBe(false);
    expect(isTrustedSender({ senderFrame: null } as never, allowed, 7)).toBe(false);
  });

  it("opens only https links on the allowlist", () => {
    expect(isAllowedExternal("https://huggingface.co/Qwen/Qwen2.5-0.5B")).toBe(true);
    expect(isAllowedExternal("http://huggingface.co/")).toBe(false);
    expect(isAllowedExternal("https://huggingface.co.evil.example/")).toBe(false);
    expect(isAllowedExternal("file:///etc/passwd")).toBe(false);
    expect(isAllowedExternal("not a url")).toBe(false);
  });

  it("sets the Electron fuses in the packaged app, and nothing relies on the ones turned off", () => {
    const cfg = parse(readFileSync(join(PROJECT_ROOT, "electron-builder.yml"), "utf8"));
    expect(cfg.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
    });
    // With RunAsNode off, ELECTRON_RUN_AS_NODE must not be how anything in the app starts a process.
    for (const f of ["electron/main.ts", "electron/first-launch.ts"]) {
      const src = readFileSync(join(PROJECT_ROOT, f), "utf8");
      expect(src, f).not.toMatch(/ELECTRON_RUN_AS_NODE:\s*"1"|from "(node:)?child_process"|\bspawn\(/);
    }
    expect(readFileSync(join(PROJECT_ROOT, "electron/main.ts"), "utf8")).toMatch(/utilityProcess\.fork\(/);
  });

  it("keeps a packaging config with Linux, macOS and Windows targets", () => {
    const cfg = parse(readFileSync(join(PROJECT_ROOT, "electron-builder.yml"), "utf8"));
    expect(cfg.linux.target).toEqual(["AppImage", "deb"]);
    expect(cfg.mac.target).toEqual(["dmg"]);
    expect(cfg.win.target).toEqual(["nsis"]);
    expect(cfg.files).toContain("renderer/dist/**");
  });
});
