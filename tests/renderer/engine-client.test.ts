/** The loopback client's event stream: it listens for every engine event type (a type it missed would never reach the UI in a browser). */
import { expect, it, vi } from "vitest";
import { ENGINE_EVENT_TYPES } from "../../engine/api/events";
import { httpTransport } from "../../renderer/src/client/engine-client";

it("listens for every engine event type over loopback HTTP: sweep, synth and rounds progress come through it", () => {
  const types: string[] = [];
  class FakeEventSource {
    addEventListener(type: string) {
      types.push(type);
    }
    close() {}
  }
  vi.stubGlobal("EventSource", FakeEventSource);
  httpTransport("http://127.0.0.1:1", "t").subscribe(() => undefined)();
  vi.unstubAllGlobals();
  for (const type of ["sweep", "synth", "rounds"]) expect(types).toContain(type);
  expect([...types].sort()).toEqual([...ENGINE_EVENT_TYPES].sort());
});
