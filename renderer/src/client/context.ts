import { createContext, useContext } from "react";
import type { EngineClient } from "./engine-client";

export const ClientContext = createContext<EngineClient | null>(null);

export function useClient(): EngineClient {
  const c = useContext(ClientContext);
  if (!c) throw new Error("useClient outside <ClientContext.Provider>");
  return c;
}

/** An error from the engine as the UI shows it: code, message, fix. */
export function errorInfo(e: unknown): { code: string; message: string; hint: string } {
  const err = e as { code?: string; message?: string; hint?: string };
  return { code: err.code ?? "ERROR", message: err.message ?? String(e), hint: err.hint ?? "" };
}
