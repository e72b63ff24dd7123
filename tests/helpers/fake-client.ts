/** An engine client for renderer tests whose methods are the handlers given; any other method fails the test. */
import type { ApiMethod } from "../../engine/api/contract";
import { createClient, type EngineClient } from "../../renderer/src/client/engine-client";

/** A picked file reaches this engine as an upload under /uploads/. */
export function fakeClient(handlers: Partial<Record<ApiMethod, (input: never) => unknown>>): EngineClient {
  return createClient({
    call: async (method, input) => {
      const h = handlers[method];
      if (!h) throw new Error(`unexpected call: ${method}`);
      return h(input as never);
    },
    subscribe: () => () => undefined,
    fileForEngine: async (file) => ({ path: `/uploads/${file.name}`, uploaded: true }),
  });
}
