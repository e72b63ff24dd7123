/**
 * Every web contents stays on the app's own pages (Electron's security checklist, items 13–15):
 * a navigation, a redirect or a frame navigation to anything else is stopped; new windows are
 * never opened; <webview> is never attached. An https link on the allowlist (window.ts) opens in
 * the user's browser instead, whether the page asked for a new window or a plain navigation.
 */
import type { WebContents } from "electron";
import { isAppUrl } from "./ipc";
import { isAllowedExternal } from "./window";

/** The parts of WebContents hardened here (a fake in tests). */
export type Hardenable = Pick<WebContents, "on" | "setWindowOpenHandler">;

type NavigationEvent = { preventDefault(): void; url?: string };

export function hardenContents(contents: Hardenable, openExternal: (url: string) => void): void {
  const stayInApp = (event: NavigationEvent, legacyUrl?: unknown) => {
    // Electron 25+ puts the URL on the event; older signatures pass it as the second argument.
    const url = typeof event.url === "string" ? event.url : typeof legacyUrl === "string" ? legacyUrl : "";
    if (isAppUrl(url)) return;
    event.preventDefault();
    return url;
  };
  contents.on("will-navigate", (event, url) => {
    const refused = stayInApp(event, url);
    if (refused && isAllowedExternal(refused)) openExternal(refused);
  });
  contents.on("will-redirect", (event, url) => void stayInApp(event, url));
  contents.on("will-frame-navigate", (event) => void stayInApp(event));
  contents.on("will-attach-webview", (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternal(url)) openExternal(url);
    return { action: "deny" };
  });
}
