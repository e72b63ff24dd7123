/**
 * The Hugging Face access token, where models are downloaded and pushed. In the desktop app the token goes
 * to the main process (electron/hub-token.ts), which keeps it encrypted in the OS keychain; the
 * page can only say whether one is set, replace it or remove it, never read it back. A browser
 * window has no such store: it points to `whetstone models login` on the engine's machine.
 */
import { useEffect, useState, type FormEvent } from "react";
import { errorInfo } from "../client/context";
import { ErrorBox } from "../components/ErrorBox";
import type { TokenBridge, TokenStatus } from "../client/engine-client";

const SOURCE: Record<TokenStatus["source"], string> = {
  keychain: "A token is saved.",
  environment: "Using HF_TOKEN from the environment Whetstone was started from (it wins over a saved token).",
  none: "No token saved: public models download without one; gated models (Llama, Gemma…) need it.",
};

/** `write`: the field where a model is pushed, which needs a token that may write. */
export function HubTokenField({ bridge, write = false }: { bridge: TokenBridge | null; write?: boolean }) {
  const [status, setStatus] = useState<TokenStatus | null>(null);
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);

  useEffect(() => {
    bridge?.hasToken().then(setStatus, (e) => setError(errorInfo(e)));
  }, [bridge]);

  if (!bridge) {
    return (
      <p className="muted small">
        {write ? "Pushing needs a Hugging Face access token with write access" : "Gated models need a Hugging Face access token"}: run <code>whetstone models login</code> on the machine running Whetstone (it is kept in the OS keychain), or start it with <code>HF_TOKEN</code> set.
      </p>
    );
  }

  const act = async (fn: () => Promise<TokenStatus>) => {
    setBusy(true);
    setError(null);
    try {
      setStatus(await fn());
      setValue("");
    } catch (e) {
      setError(errorInfo(e));
    } finally {
      setBusy(false);
    }
  };
  const save = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) void act(() => bridge.setToken(value));
  };

  return (
    <form className="field" onSubmit={save}>
      <label htmlFor="hub-token">Hugging Face access token</label>
      <div className="row">
        <input id="hub-token" type="password" value={value} onChange={(e) => setValue(e.target.value)} placeholder={status?.present ? "•••••••• (saved; type a new one to replace it)" : "hf_…"} autoComplete="off" spellCheck={false} disabled={busy || status?.store === null} aria-describedby="hub-token-note" />
        <button type="submit" disabled={busy || !value.trim() || status?.store === null}>
          Save token
        </button>
        {status?.source === "keychain" && (
          <button type="button" disabled={busy} onClick={() => void act(() => bridge.clearToken())}>
            Remove token
          </button>
        )}
      </div>
      <small id="hub-token-note">
        {status ? (write && status.source === "none" ? "No token saved: pushing needs one." : SOURCE[status.source]) : "…"}{" "}
        {status?.store === null ? "It cannot be saved on this machine (below)." : `The token is stored encrypted in the OS keychain${status?.store ? ` (${status.store})` : ""}, never in config files or logs, and is never shown again.`} Create one ({write ? "write" : "read"} access) at huggingface.co/settings/tokens.
      </small>
      {status?.note && <small role="status">{status.note}</small>}
      <ErrorBox error={error} />
    </form>
  );
}
