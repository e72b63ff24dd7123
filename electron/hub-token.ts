/**
 * The Hugging Face access token in the desktop app. It is kept encrypted with Electron's
 * safeStorage (the key lives in the OS keychain: macOS Keychain, Windows DPAPI, the Secret Service
 * or KWallet on Linux); the ciphertext is one file in the app's userData folder, written
 * atomically. Where safeStorage would not really protect it — encryption unavailable, or Linux's
 * `basic_text` backend (a hard-coded key: plain text in all but name) — nothing is written there:
 * the CLI's platform keychain (engine/secrets/token.ts) is used instead, or HF_TOKEN.
 *
 * The token goes one way only: from the renderer's password field into the store, and from the
 * store into this process's HF_TOKEN, which is how the engine hands it to the worker. The renderer
 * can ask whether a token exists, set one and clear it; it can never read it back.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { platformKeychain, storeHubToken, type Keychain, type TokenSource } from "../engine/secrets/token";
import { writeFileAtomic } from "../engine/util/atomic";
import { WhetstoneError } from "../engine/util/errors";
import type { Registrar } from "./ipc";

/** The part of Electron's safeStorage used here (injected: tests pass a fake). */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only in Electron. */
  getSelectedStorageBackend?(): string;
}

export const TOKEN_FILE = "hf-token.enc";

/** Why safeStorage must not hold the token here, or null when it may. */
export function safeStorageRefusal(safe: SafeStorageLike, platform: NodeJS.Platform): string | null {
  if (!safe.isEncryptionAvailable()) return "Electron's safeStorage cannot encrypt on this machine (no OS keychain it can use)";
  if (platform === "linux") {
    const backend = safe.getSelectedStorageBackend?.() ?? "unknown";
    if (backend === "basic_text") return "Electron's safeStorage found no keyring (GNOME Keyring, KWallet) and would use its 'basic_text' backend, whose key is hard-coded: the token would be as readable as plain text";
    if (backend === "unknown") return "Electron's safeStorage has not picked a keyring backend (asked before the app was ready)";
  }
  return null;
}

/** The token as a safeStorage ciphertext file in `dir`. */
export function safeStorageKeychain(safe: SafeStorageLike, dir: string): Keychain {
  const file = join(dir, TOKEN_FILE);
  return {
    name: "OS keychain (Electron safeStorage)",
    get() {
      if (!existsSync(file)) return null;
      try {
        return safe.decryptString(readFileSync(file)) || null;
      } catch {
        return null; // encrypted under another keychain key (profile moved): as good as absent; setting a new one overwrites it
      }
    },
    set(token) {
      writeFileAtomic(file, safe.encryptString(token), 0o600);
    },
    remove() {
      rmSync(file, { force: true });
    },
  };
}

export interface TokenStoreChoice {
  keychain: Keychain | null;
  /** Why safeStorage is not used, and what is used instead; null when it is. */
  note: string | null;
}

export function chooseTokenStore(safe: SafeStorageLike, userData: string, platform: NodeJS.Platform, fallback: () => Keychain | null = () => platformKeychain(platform)): TokenStoreChoice {
  const refusal = safeStorageRefusal(safe, platform);
  if (!refusal) return { keychain: safeStorageKeychain(safe, userData), note: null };
  const other = fallback();
  return {
    keychain: other,
    note: other
      ? `${refusal}; the token is kept in the ${other.name} instead.`
      : `${refusal}, and no other keychain was found, so the token cannot be stored. Set HF_TOKEN in the environment Whetstone is started from (on Linux: install a keyring and libsecret-tools).`,
  };
}

export interface TokenStatus {
  /** A token is available to downloads (stored, or HF_TOKEN from the app's environment). */
  present: boolean;
  source: TokenSource;
  /** Where a token set from the UI is kept, or null when it cannot be kept. */
  store: string | null;
  note: string | null;
}

/**
 * The app's one holder of the token: keeps `env.HF_TOKEN` (the engine's process environment) in
 * step with the store. An HF_TOKEN the app was started with wins, as it does for the CLI.
 */
export class HubTokenService {
  private readonly external: string | undefined;

  constructor(
    private readonly choice: TokenStoreChoice,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.external = env.HF_TOKEN || undefined;
    this.apply();
  }

  status(): TokenStatus {
    const source: TokenSource = this.external ? "environment" : this.env.HF_TOKEN ? "keychain" : "none";
    return { present: source !== "none", source, store: this.choice.keychain?.name ?? null, note: this.choice.note };
  }

  set(token: string): TokenStatus {
    storeHubToken(token, this.choice.keychain);
    this.apply();
    if (!this.external && !this.env.HF_TOKEN) {
      throw new WhetstoneError({ code: "KEYCHAIN_FAILED", message: `The token was handed to the ${this.choice.keychain?.name ?? "keychain"} but cannot be read back.`, hint: "Unlock the keychain and try again, or start Whetstone with HF_TOKEN set." });
    }
    return this.status();
  }

  clear(): TokenStatus {
    this.choice.keychain?.remove();
    this.apply();
    return this.status();
  }

  private apply(): void {
    if (this.external) return;
    const stored = this.choice.keychain?.get() ?? null;
    if (stored) this.env.HF_TOKEN = stored;
    else delete this.env.HF_TOKEN;
  }
}

export { TOKEN_CHANNELS } from "./channels";
import { TOKEN_CHANNELS } from "./channels";

type Reply = { ok: true; result: TokenStatus } | { ok: false; error: { code: string; message: string; hint: string } };

function reply(fn: () => TokenStatus): Reply {
  try {
    return { ok: true, result: fn() };
  } catch (e) {
    if (e instanceof WhetstoneError) return { ok: false, error: e.toJSON() };
    throw e;
  }
}

/** hasToken / setToken / clearToken over IPC. There is deliberately no channel that returns the token. */
export function registerTokenIpc(registrar: Registrar, tokens: HubTokenService): void {
  registrar.handle(TOKEN_CHANNELS.has, z.tuple([]), () => reply(() => tokens.status()));
  registrar.handle(TOKEN_CHANNELS.set, z.tuple([z.string().max(512)]), ([token]) => reply(() => tokens.set(token)));
  registrar.handle(TOKEN_CHANNELS.clear, z.tuple([]), () => reply(() => tokens.clear()));
}
