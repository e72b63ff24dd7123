/**
 * Checks for one path an API caller hands the engine. The API's callers are the app's own page
 * (in Electron or a browser) and scripts holding the token: they may name any file the user owns,
 * wherever it is, so there is no allowlist of folders. What is refused is what no dataset, model
 * or export can be, and what would hurt if it were taken for one:
 *
 * - not a full path, an empty one, one with a NUL byte, or one longer than any OS accepts;
 * - the operating system's own folders (/etc, /proc, /sys, /dev, /boot, /run, C:\Windows …):
 *   reading /dev/zero or a FIFO never ends, walking /proc or /etc reads things that are not data;
 *   checked on the path as given and on the one its links lead to;
 * - a path that does not exist (or is a broken link), is not readable, or is a device, pipe or
 *   socket rather than a file or folder;
 * - for a folder that will be written (an export): the file system root, the home folder, the
 *   data folder or any folder above them, whose replacement (`overwrite`) would delete the user's files.
 *
 * Every refusal is a WhetstoneError naming the method, the field and the path, with what to do.
 */
import { accessSync, constants, realpathSync, statSync, type Stats } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, parse, relative, resolve, sep, win32 } from "node:path";
import { WhetstoneError } from "../util/errors";

const MAX_PATH = 4096;

const POSIX_SYSTEM = ["/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/run", "/private/etc", "/private/var/run", "/System"];

export type PathKind = "file" | "folder" | "file or folder";

export interface PathCheck {
  /** `method: field` as the error names it. */
  where: string;
  kind: PathKind;
}

function fail(code: "API_BAD_PATH" | "API_SYSTEM_PATH" | "API_PATH_NOT_FOUND", check: PathCheck, message: string, hint: string): never {
  throw new WhetstoneError({ code, message: `${check.where}: ${message}`, hint, where: check.where });
}

/** Whether `path` is inside (or is) one of the operating system's own folders. */
export function isSystemPath(path: string, platform: NodeJS.Platform = process.platform): boolean {
  if (platform === "win32") {
    const p = win32.resolve(path).toLowerCase();
    const root = win32.parse(p).root;
    return ["windows", "program files", "program files (x86)", "programdata"].some((d) => p === root + d || p.startsWith(root + d + "\\")) || p.startsWith("\\\\.\\") || p.startsWith("\\\\?\\");
  }
  return POSIX_SYSTEM.some((d) => path === d || path.startsWith(d + "/"));
}

/** `ancestor` is `path` or a folder above it. */
export function contains(ancestor: string, path: string): boolean {
  const rel = relative(ancestor, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** The shape every path argument must have, before the file system is asked anything. */
export function checkPathShape(value: string, check: PathCheck): void {
  if (value.length === 0 || value.length > MAX_PATH) fail("API_BAD_PATH", check, `a path of ${value.length} characters is not a path.`, "Give the full path of the file or folder.");
  if (value.includes("\0")) fail("API_BAD_PATH", check, "the path contains a NUL byte.", "Give the full path of the file or folder, as the file manager shows it.");
  if (!isAbsolute(value)) {
    fail("API_BAD_PATH", check, `'${value}' is not a full path (it would be read relative to wherever the engine was started).`, `Give the full path, e.g. ${resolve(homedir(), value)}.`);
  }
  if (isSystemPath(resolve(value))) {
    fail("API_SYSTEM_PATH", check, `${value} is one of the operating system's folders, not a ${check.kind} of yours.`, `Choose a ${check.kind} in your own folders (your home folder, a data disk).`);
  }
}

function existsQuietly(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ENOENT" && (e as NodeJS.ErrnoException).code !== "ENOTDIR";
  }
}

function statOf(path: string, check: PathCheck): Stats {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") fail("API_PATH_NOT_FOUND", check, `${path} does not exist (or is a link to something that no longer does).`, `Check the path, or choose the ${check.kind} again.`);
    if (code === "EACCES" || code === "EPERM") fail("API_BAD_PATH", check, `${path} cannot be read: permission denied.`, "Choose a file or folder your user can read, or change its permissions.");
    if (code === "ELOOP") fail("API_BAD_PATH", check, `${path} is a link that points back at itself.`, "Fix or remove the link.");
    fail("API_BAD_PATH", check, `${path} cannot be opened (${code ?? String(e)}).`, `Check the path, or choose the ${check.kind} again.`);
  }
}

/**
 * A file or folder the engine will read. With `mustExist` false a missing path passes (the config
 * validator reports it with the config's line); anything that is there is still checked.
 */
export function checkReadablePath(value: string, check: PathCheck, { mustExist = true }: { mustExist?: boolean } = {}): void {
  checkPathShape(value, check);
  if (!mustExist && !existsQuietly(value)) return;
  const st = statOf(value, check);
  const real = realpathSync(value);
  if (isSystemPath(real)) fail("API_SYSTEM_PATH", check, `${value} leads to ${real}, one of the operating system's folders.`, `Choose a ${check.kind} in your own folders.`);
  if (!st.isFile() && !st.isDirectory()) fail("API_BAD_PATH", check, `${value} is a device, pipe or socket, not a ${check.kind}.`, `Choose a ${check.kind}.`);
  if (check.kind === "file" && !st.isFile()) fail("API_BAD_PATH", check, `${value} is a folder; a file is needed here.`, "Choose a file inside it.");
  if (check.kind === "folder" && !st.isDirectory()) fail("API_BAD_PATH", check, `${value} is a file; a folder is needed here.`, "Choose the folder that holds it.");
  try {
    accessSync(value, constants.R_OK | (st.isDirectory() ? constants.X_OK : 0));
  } catch {
    fail("API_BAD_PATH", check, `${value} cannot be read: permission denied.`, "Choose a file or folder your user can read, or change its permissions.");
  }
}

/** A folder the engine will create or replace: never a root, the home folder, the data folder or a folder above them. */
export function checkOutputFolder(value: string, check: PathCheck, protectedFolders: string[]): void {
  checkPathShape(value, check);
  const abs = resolve(value);
  let real = abs;
  try {
    real = realpathSync(abs);
  } catch {
    /* not there yet: nothing to follow */
  }
  if (isSystemPath(real)) fail("API_SYSTEM_PATH", check, `${value} leads to ${real}, one of the operating system's folders.`, "Choose a new folder in your own folders.");
  if (parse(real).root === real) {
    fail("API_BAD_PATH", check, `${value} is the root of a disk.`, "Choose a new folder, e.g. one inside your home folder.");
  }
  for (const folder of protectedFolders) {
    if (contains(real, folder)) {
      fail("API_BAD_PATH", check, `${value} is ${real === folder ? "" : "above "}${folder}; writing an export there could replace it and everything in it.`, `Choose a new folder inside it instead, e.g. ${resolve(folder, "exports")}${sep}…`);
    }
  }
}
