/** electron/navigation.ts: every web contents stays on app:// pages; links go to the browser only on the allowlist. */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { hardenContents } from "../../electron/navigation";

/** A WebContents stand-in: emits the events Electron 45 emits, with the URL on the event object. */
function contents() {
  const emitter = new EventEmitter();
  let openHandler: ((d: { url: string }) => { action: string }) | null = null;
  const fake = {
    on: (name: string, listener: (...args: unknown[]) => void) => emitter.on(name, listener),
    setWindowOpenHandler: (h: (d: { url: string }) => { action: string }) => void (openHandler = h),
  };
  const opened: string[] = [];
  hardenContents(fake as never, (url) => void opened.push(url));
  const fire = (name: string, url: string, legacy = true) => {
    let prevented = false;
    const event = { url, preventDefault: () => void (prevented = true) };
    if (legacy) emitter.emit(name, event, url, false, true);
    else emitter.emit(name, event);
    return prevented;
  };
  return { fire, opened, open: (url: string) => openHandler!({ url }), emitter };
}

describe("navigation hardening", () => {
  it("lets the app move between its own pages", () => {
    const c = contents();
    for (const name of ["will-navigate", "will-redirect", "will-frame-navigate"]) expect(c.fire(name, "app://whetstone/index.html#/runs"), name).toBe(false);
  });

  it("stops navigations, redirects and frame navigations anywhere else", () => {
    const c = contents();
    for (const url of ["https://evil.example/", "file:///etc/passwd", "app://whetstone.evil/x", "http://127.0.0.1:8080/", "javascript:alert(1)", "about:blank", "data:text/html,hi", ""]) {
      expect(c.fire("will-navigate", url), `navigate ${url}`).toBe(true);
      expect(c.fire("will-redirect", url), `redirect ${url}`).toBe(true);
      expect(c.fire("will-frame-navigate", url, false), `frame ${url}`).toBe(true);
    }
    expect(c.opened).toEqual([]);
  });

  it("stops an event without any URL (an older or unexpected signature)", () => {
    const c = contents();
    let prevented = false;
    c.emitter.emit("will-frame-navigate", { preventDefault: () => void (prevented = true) });
    expect(prevented).toBe(true);
  });

  it("never opens a window; allowlisted https links open in the browser, from window.open or a plain link", () => {
    const c = contents();
    expect(c.open("https://huggingface.co/Qwen")).toEqual({ action: "deny" });
    expect(c.open("https://evil.example/")).toEqual({ action: "deny" });
    expect(c.open("http://huggingface.co/")).toEqual({ action: "deny" });
    expect(c.fire("will-navigate", "https://github.com/whetstone")).toBe(true);
    expect(c.opened).toEqual(["https://huggingface.co/Qwen", "https://github.com/whetstone"]);
  });

  it("refuses to attach a <webview>", () => {
    const c = contents();
    let prevented = false;
    c.emitter.emit("will-attach-webview", { preventDefault: () => void (prevented = true) }, {}, {});
    expect(prevented).toBe(true);
  });
});
