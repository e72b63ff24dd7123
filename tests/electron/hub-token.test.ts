/**
 * The app's hub token store with an injected safeStorage (Electron cannot run here): ciphertext
 * only in userData, refusal of the basic_text backend and of unavailable encryption with the
 * fallback said, HF_TOKEN kept in step, and IPC that can never return the token.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { memoryKeychain } from "../helpers/memory-keychain";
import { chooseTokenStore, HubTokenService, registerTokenIpc, safeStorageKeychain, safeStorageRefusal, TOKEN_CHANNELS, TOKEN_FILE, type SafeStorageLike } from "../../electron/hub-token";
import { APP_ORIGIN, createRegistrar } from "../../electron/ipc";
import { PROJECT_ROOT } from "../../engine/paths";

const TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123";

/** Reversible like the real one, and not the identity: XOR with a key, then a marker. */
function fakeSafeStorage(backend = "gnome_libsecret", available = true): SafeStorageLike & { calls: number } {
  const key = 0x5a;
  return {
    calls: 0,
    isEncryptionAvailable: () => available,
    getSelectedStorageBackend: () => backend,
    encryptString(plain) {
      this.calls++;
      return Buffer.concat([Buffer.from("v10"), Buffer.from(plain, "utf8").map((b) => b ^ key)]);
    },
    decryptString(buf) {
      if (buf.subarray(0, 3).toString() !== "v10") throw new Error("not ours");
      return Buffer.from(buf.subarray(3).map((b) => b ^ key)).toString("utf8");
    },
  };
}

/** Every file under dir, read as bytes. */
function allBytes(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)));
}

describe("hub token in the app", () => {
  it("keeps only the ciphertext in userData, written with owner-only permissions, and feeds HF_TOKEN", () => {
    const userData = mkdtempSync(join(tmpdir(), "whetstone-token-"));
    const safe = fakeSafeStorage();
    const env: NodeJS.ProcessEnv = {};
    const service = new HubTokenService(chooseTokenStore(safe, userData, "linux", () => null), env);
    expect(service.status()).toMatchObject({ present: false, source: "none", store: "OS keychain (Electron safeStorage)", note: null });

    expect(service.set(` ${TOKEN}\n`)).toMatchObject({ present: true, source: "keychain" });
    expect(safe.calls).toBe(1);
    expect(env.HF_TOKEN).toBe(TOKEN);
    expect(readdirSync(userData)).toEqual([TOKEN_FILE]); // no temp file left behind
    for (const bytes of allBytes(userData)) {
      expect(bytes.includes(Buffer.from(TOKEN))).toBe(false);
      expect(bytes.toString("latin1")).not.toMatch(/hf_[A-Za-z0-9]{8}/);
    }
    if (process.platform !== "win32") expect(statSync(join(userData, TOKEN_FILE)).mode & 0o777).toBe(0o600);

    // A new launch reads it back into the environment; clearing removes file and variable.
    const env2: NodeJS.ProcessEnv = {};
    const again = new HubTokenService(chooseTokenStore(safe, userData, "linux", () => null), env2);
    expect(env2.HF_TOKEN).toBe(TOKEN);
    expect(again.clear()).toMatchObject({ present: false, source: "none" });
    expect(env2.HF_TOKEN).toBeUndefined();
    expect(readdirSync(userData)).toEqual([]);
  });

  it("refuses Linux's basic_text backend and unavailable encryption, says why, and falls back", () => {
    expect(safeStorageRefusal(fakeSafeStorage("basic_text"), "linux")).toMatch(/basic_text.*hard-coded/);
    expect(safeStorageRefusal(fakeSafeStorage("kwallet5"), "linux")).toBeNull();
    expect(safeStorageRefusal(fakeSafeStorage("basic_text", false), "darwin")).toMatch(/cannot encrypt/);
    expect(safeStorageRefusal(fakeSafeStorage("unknown"), "darwin")).toBeNull(); // the backend is a Linux notion

    const userData = mkdtempSync(join(tmpdir(), "whetstone-token-"));
    const safe = fakeSafeStorage("basic_text");
    const fallback = memoryKeychain();
    const env: NodeJS.ProcessEnv = {};
    const service = new HubTokenService(chooseTokenStore(safe, userData, "linux", () => fallback), env);
    expect(service.status().note).toMatch(/basic_text.*kept in the test keychain instead/);
    service.set(TOKEN);
    expect(safe.calls).toBe(0);
    expect(readdirSync(userData)).toEqual([]);
    expect(fallback.value).toBe(TOKEN);
    expect(env.HF_TOKEN).toBe(TOKEN);

    const none = new HubTokenService(chooseTokenStore(fakeSafeStorage("basic_text"), userData, "linux", () => null), {});
    expect(none.status()).toMatchObject({ store: null, note: expect.stringMatching(/cannot be stored.*HF_TOKEN/) });
    expect(() => none.set(TOKEN)).toThrow(expect.objectContaining({ code: "KEYCHAIN_UNAVAILABLE" }));
    expect(readdirSync(userData)).toEqual([]);
  });

  it("lets an HF_TOKEN the app was started with win, and rejects what is not a token", () => {
    const userData = mkdtempSync(join(tmpdir(), "whetstone-token-"));
    const env: NodeJS.ProcessEnv = { HF_TOKEN: "hf_fromTheShellEnvironment0000" };
    const service = new HubTokenService(chooseTokenStore(fakeSafeStorage(), userData, "darwin", () => null), env);
    expect(service.set(TOKEN)).toMatchObject({ source: "environment" });
    expect(env.HF_TOKEN).toBe("hf_fromTheShellEnvironment0000");
    service.clear();
    expect(env.HF_TOKEN).toBe("hf_fromTheShellEnvironment0000");
    expect(() => service.set("password123")).toThrow(expect.objectContaining({ code: "TOKEN_INVALID" }));
  });

  it("treats a file it cannot decrypt as no token", () => {
    const userData = mkdtempSync(join(tmpdir(), "whetstone-token-"));
    const store = safeStorageKeychain(fakeSafeStorage(), userData);
    store.set(TOKEN);
    const otherKey = { ...fakeSafeStorage(), decryptString: () => { throw new Error("key changed"); } };
    expect(safeStorageKeychain(otherKey, userData).get()).toBeNull();
  });

  it("answers has/set/clear over IPC with a status, never the token", async () => {
    const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
    const registrar = createRegistrar({ handle: (c: string, h: never) => void handlers.set(c, h), on: () => undefined } as never, () => [{ id: 1 }]);
    const userData = mkdtempSync(join(tmpdir(), "whetstone-token-"));
    registerTokenIpc(registrar, new HubTokenService(chooseTokenStore(fakeSafeStorage(), userData, "linux", () => null), {}));
    const event = { sender: { id: 1 }, senderFrame: { url: `${APP_ORIGIN}/index.html` } };
    const replies = [
      await handlers.get(TOKEN_CHANNELS.set)!(event, TOKEN),
      await handlers.get(TOKEN_CHANNELS.has)!(event),
      await handlers.get(TOKEN_CHANNELS.set)!(event, "nope"),
      await handlers.get(TOKEN_CHANNELS.clear)!(event),
    ];
    expect(replies[1]).toMatchObject({ ok: true, result: { present: true } });
    expect(replies[2]).toMatchObject({ ok: false, error: { code: "TOKEN_INVALID" } });
    expect(replies[3]).toMatchObject({ ok: true, result: { present: false } });
    expect(JSON.stringify(replies)).not.toContain(TOKEN);
    await expect(handlers.get(TOKEN_CHANNELS.set)!({ ...event, senderFrame: { url: "https://evil.example/" } }, TOKEN)).rejects.toThrow(/untrusted/);
    await expect(handlers.get(TOKEN_CHANNELS.set)!(event, 42)).rejects.toThrow(/bad payload/);
  });

  it("exposes hasToken/setToken/clearToken in the preload and no way to read the token", () => {
    const preload = readFileSync(join(PROJECT_ROOT, "electron/preload.ts"), "utf8");
    for (const m of ["hasToken", "setToken", "clearToken"]) expect(preload).toMatch(new RegExp(`\\b${m}: async`));
    expect(preload).not.toMatch(/getToken|token-get/i);
    // The preload uses the shared channel names (electron/channels.ts), and the channel names hold no read.
    expect(preload).toContain('from "./channels"');
    expect(preload).toMatch(/TOKEN_HAS, set: TOKEN_SET, clear: TOKEN_CLEAR \} = TOKEN_CHANNELS/);
    expect(Object.values(TOKEN_CHANNELS).join(" ")).not.toMatch(/get|read/i);
  });
});
