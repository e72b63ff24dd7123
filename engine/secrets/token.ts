/**
 * The Hugging Face access token: asked once, kept in the OS keychain, handed to the worker in its
 * environment (HF_TOKEN) and nowhere else: never in a config file, a command line, the protocol log
 * or a run folder.
 *
 *   macOS    the login keychain through `security` (generic password, service "whetstone")
 *   Linux    the Secret Service (GNOME Keyring, KWallet) through `secret-tool` (libsecret)
 *   Windows  Credential Manager through PowerShell and the Win32 CredWrite/CredRead API
 *   app      Electron's safeStorage (electron/): same service name, its own store
 *
 * The token travels to these tools on stdin, never as an argument (arguments are visible to every
 * user in the process list). Where no keychain exists, nothing is stored: the token is taken from
 * the HF_TOKEN environment variable of the process, and `whetstone models login` says so.
 */
import { spawnSync } from "node:child_process";
import { WhetstoneError } from "../util/errors";

const SERVICE = "whetstone";
const ACCOUNT = "huggingface-token";

export interface Keychain {
  name: string;
  get(): string | null;
  set(token: string): void;
  remove(): void;
}

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { input, encoding: "utf8", timeout: 30_000, windowsHide: true });
}

function available(cmd: string, args: string[]): boolean {
  const r = run(cmd, args);
  return !r.error;
}

const macos: Keychain = {
  name: "macOS keychain",
  get() {
    const r = run("security", ["find-generic-password", "-s", SERVICE, "-a", ACCOUNT, "-w"]);
    return r.status === 0 ? r.stdout.trim() || null : null;
  },
  set(token) {
    // `-w` as the last option with no value makes security prompt on stdin (twice: password + retype).
    const r = run("security", ["add-generic-password", "-U", "-s", SERVICE, "-a", ACCOUNT, "-w"], `${token}\n${token}\n`);
    if (r.status !== 0) throw keychainError(this.name, r.stderr);
  },
  remove() {
    run("security", ["delete-generic-password", "-s", SERVICE, "-a", ACCOUNT]);
  },
};

const secretTool: Keychain = {
  name: "Secret Service (secret-tool)",
  get() {
    const r = run("secret-tool", ["lookup", "service", SERVICE, "account", ACCOUNT]);
    return r.status === 0 ? r.stdout.trim() || null : null;
  },
  set(token) {
    const r = run("secret-tool", ["store", "--label=Whetstone: Hugging Face token", "service", SERVICE, "account", ACCOUNT], token);
    if (r.status !== 0) throw keychainError(this.name, r.stderr);
  },
  remove() {
    run("secret-tool", ["clear", "service", SERVICE, "account", ACCOUNT]);
  },
};

// Credential Manager has no command that prints a stored secret (cmdkey only lists), so the
// Win32 API is called from PowerShell; the token is read from stdin.
const WIN_PRELUDE = `$ErrorActionPreference='Stop'
Add-Type -TypeDefinition @"
using System; using System.Runtime.InteropServices; using System.Text;
public static class WsCred {
  [StructLayout(LayoutKind.Sequential, CharSet=CharSet.Unicode)] public struct CREDENTIAL { public int Flags; public int Type; public string TargetName; public string Comment; public long LastWritten; public int CredentialBlobSize; public IntPtr CredentialBlob; public int Persist; public int AttributeCount; public IntPtr Attributes; public string TargetAlias; public string UserName; }
  [DllImport("advapi32.dll", CharSet=CharSet.Unicode, SetLastError=true)] public static extern bool CredReadW(string target, int type, int flags, out IntPtr cred);
  [DllImport("advapi32.dll", CharSet=CharSet.Unicode, SetLastError=true)] public static extern bool CredWriteW(ref CREDENTIAL cred, int flags);
  [DllImport("advapi32.dll")] public static extern void CredFree(IntPtr cred);
  public static string Read(string t) { IntPtr p; if (!CredReadW(t, 1, 0, out p)) return null; var c = (CREDENTIAL)Marshal.PtrToStructure(p, typeof(CREDENTIAL)); var s = Marshal.PtrToStringUni(c.CredentialBlob, c.CredentialBlobSize / 2); CredFree(p); return s; }
  public static void Write(string t, string u, string secret) { var b = Encoding.Unicode.GetBytes(secret); var c = new CREDENTIAL(); c.Type = 1; c.TargetName = t; c.UserName = u; c.Persist = 2; c.CredentialBlobSize = b.Length; c.CredentialBlob = Marshal.AllocHGlobal(b.Length); Marshal.Copy(b, 0, c.CredentialBlob, b.Length); try { if (!CredWriteW(ref c, 0)) throw new Exception("CredWrite failed: " + Marshal.GetLastWin32Error()); } finally { Marshal.FreeHGlobal(c.CredentialBlob); } }
}
"@
`;
const TARGET = `${SERVICE}:${ACCOUNT}`;
const windows: Keychain = {
  name: "Windows Credential Manager",
  get() {
    const r = run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", "-"], `${WIN_PRELUDE}\n$s=[WsCred]::Read('${TARGET}'); if ($s) { [Console]::Out.Write($s) }\n`);
    return r.status === 0 ? r.stdout.trim() || null : null;
  },
  set(token) {
    // The script comes on stdin and reads the token from its first line; the token is never an argument.
    const r = run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", "-"], `$t=[Console]::In.ReadLine()\n${token}\n${WIN_PRELUDE}\n[WsCred]::Write('${TARGET}', '${ACCOUNT}', $t)\n`);
    if (r.status !== 0) throw keychainError(this.name, r.stderr);
  },
  remove() {
    run("cmdkey", [`/delete:${TARGET}`]);
  },
};

function keychainError(name: string, stderr: string): WhetstoneError {
  return new WhetstoneError({ code: "KEYCHAIN_FAILED", message: `The ${name} refused to store the token: ${stderr.trim().split("\n")[0] ?? "unknown error"}.`, hint: "Unlock the keychain and try again, or set HF_TOKEN in the environment for this process only." });
}

/** The keychain this machine has, or null (Linux without secret-tool, or a headless session). */
export function platformKeychain(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): Keychain | null {
  if (env.WHETSTONE_KEYCHAIN === "none") return null;
  if (platform === "darwin") return available("security", ["help"]) ? macos : null;
  if (platform === "win32") return windows;
  return available("secret-tool", ["--version"]) ? secretTool : null;
}

export type TokenSource = "environment" | "keychain" | "none";

/** HF_TOKEN of this process wins (explicit), else the keychain's. */
export function hubToken(env: NodeJS.ProcessEnv = process.env, keychain: Keychain | null = platformKeychain(process.platform, env)): { token: string | null; source: TokenSource } {
  if (env.HF_TOKEN) return { token: env.HF_TOKEN, source: "environment" };
  const stored = keychain?.get() ?? null;
  return stored ? { token: stored, source: "keychain" } : { token: null, source: "none" };
}

export function storeHubToken(token: string, keychain: Keychain | null = platformKeychain()): string {
  const t = token.trim();
  if (!/^hf_[A-Za-z0-9]{20,}$/.test(t)) {
    throw new WhetstoneError({ code: "TOKEN_INVALID", message: "That does not look like a Hugging Face access token (hf_ followed by letters and digits).", hint: "Create one at https://huggingface.co/settings/tokens (read access is enough) and paste it whole." });
  }
  if (!keychain) {
    throw new WhetstoneError({
      code: "KEYCHAIN_UNAVAILABLE",
      message: "This machine has no keychain Whetstone can use (on Linux: the Secret Service via `secret-tool`, package libsecret-tools), so the token is not stored.",
      hint: "Install libsecret-tools and a keyring (GNOME Keyring, KWallet), or set HF_TOKEN in the environment of each whetstone command; it is never written to disk.",
    });
  }
  keychain.set(t);
  return keychain.name;
}

/** Environment for a worker that may talk to the hub: the token, when there is one, and nothing else changed. */
export function hubEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { token } = hubToken(env);
  return token ? { HF_TOKEN: token } : {};
}

/**
 * The worker environment of a job that reaches the hub (a pull, a push): `workerEnv` plus the token,
 * and online. Other workers stay offline by default (models are local folders); an HF_HUB_OFFLINE the
 * user set is kept, and the job then says it is offline.
 */
export function hubWorkerEnv(workerEnv: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const parent = { ...process.env, ...workerEnv };
  return { ...workerEnv, HF_HUB_OFFLINE: parent.HF_HUB_OFFLINE ?? "0", ...hubEnv(parent) };
}

/**
 * hubWorkerEnv for a worker that only moves files to or from the hub (a pull, a push): it says hello
 * without a device and never imports torch, so it starts in ~0.1 s of CPU instead of ~1.4 s.
 */
export function hubOnlyWorkerEnv(workerEnv: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...hubWorkerEnv(workerEnv), WHETSTONE_NO_DEVICE: "1" };
}
