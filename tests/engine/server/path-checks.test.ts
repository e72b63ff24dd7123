/** engine/server/path-checks.ts: which paths an API caller may hand the engine, on POSIX and Windows. */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkOutputFolder, checkReadablePath, contains, isSystemPath } from "../../../engine/server/path-checks";

const check = { where: "m: f", kind: "file or folder" as const };

describe("system folders", () => {
  it("are the OS's own folders on POSIX, not look-alikes", () => {
    for (const p of ["/etc", "/etc/passwd", "/proc/self/environ", "/sys/kernel", "/dev/zero", "/boot", "/run/user/1000", "/private/etc/hosts", "/System/Library"]) expect(isSystemPath(p, "linux"), p).toBe(true);
    for (const p of ["/etcetera", "/home/ada/etc", "/devices", "/data/proc", "/tmp/x", "/"]) expect(isSystemPath(p, "linux"), p).toBe(false);
  });

  it("are Windows, Program Files, ProgramData and device paths on Windows, in any case", () => {
    for (const p of ["C:\\Windows", "c:\\windows\\system32\\config\\SAM", "D:\\Program Files\\x", "C:\\ProgramData\\y", "\\\\.\\PhysicalDrive0", "\\\\?\\C:\\x"]) expect(isSystemPath(p, "win32"), p).toBe(true);
    for (const p of ["C:\\Users\\ada\\data.jsonl", "C:\\WindowsData\\x", "E:\\datasets"]) expect(isSystemPath(p, "win32"), p).toBe(false);
  });
});

describe("readable paths", () => {
  const dir = mkdtempSync(join(tmpdir(), "whetstone-paths-"));
  writeFileSync(join(dir, "a.jsonl"), "{}\n");
  mkdirSync(join(dir, "sub"));

  it("accepts the user's files and folders, and checks the kind asked for", () => {
    expect(() => checkReadablePath(join(dir, "a.jsonl"), check)).not.toThrow();
    expect(() => checkReadablePath(dir, { ...check, kind: "folder" })).not.toThrow();
    expect(() => checkReadablePath(join(dir, "sub"), { ...check, kind: "file" })).toThrow(expect.objectContaining({ code: "API_BAD_PATH", message: `m: f: ${join(dir, "sub")} is a folder; a file is needed here.` }));
    expect(() => checkReadablePath(join(dir, "a.jsonl"), { ...check, kind: "folder" })).toThrow(/is a file; a folder is needed here/);
  });

  it("refuses empty, NUL, relative and looping paths with the field's name", () => {
    expect(() => checkReadablePath("a\0b", check)).toThrow(expect.objectContaining({ code: "API_BAD_PATH", message: "m: f: the path contains a NUL byte." }));
    expect(() => checkReadablePath("./a.jsonl", check)).toThrow(expect.objectContaining({ code: "API_BAD_PATH", hint: `Give the full path, e.g. ${join(homedir(), "a.jsonl")}.` }));
    const loop = join(dir, "loop");
    symlinkSync(loop, loop);
    expect(() => checkReadablePath(loop, check)).toThrow(/points back at itself/);
  });

  it("lets a missing config path through when asked to (the config validator names its line)", () => {
    expect(() => checkReadablePath(join(dir, "later.jsonl"), check, { mustExist: false })).not.toThrow();
    expect(() => checkReadablePath(join(dir, "later.jsonl"), check)).toThrow(expect.objectContaining({ code: "API_PATH_NOT_FOUND" }));
    expect(() => checkReadablePath("/etc/shadow", check, { mustExist: false })).toThrow(expect.objectContaining({ code: "API_SYSTEM_PATH" }));
  });
});

describe("export folders", () => {
  const home = "/home/ada";
  const data = "/home/ada/.local/share/whetstone";
  it("may be new folders anywhere of the user's, including inside the data folder", () => {
    for (const out of ["/home/ada/exports/run-1", `${data}/exports/run-1`, "/mnt/disk/models/x"]) expect(() => checkOutputFolder(out, check, [home, data]), out).not.toThrow();
  });

  it("never the root, the home folder, the data folder or a folder above them", () => {
    for (const out of ["/", "/home", home, "/home/ada/.local", data]) {
      expect(() => checkOutputFolder(out, check, [home, data]), out).toThrow(expect.objectContaining({ code: "API_BAD_PATH" }));
    }
    expect(() => checkOutputFolder("/etc/whetstone", check, [home, data])).toThrow(expect.objectContaining({ code: "API_SYSTEM_PATH" }));
  });

  it("knows what contains what", () => {
    expect(contains("/a", "/a/b")).toBe(true);
    expect(contains("/a", "/a")).toBe(true);
    expect(contains("/a", "/ab")).toBe(false);
    expect(contains("/a/b", "/a")).toBe(false);
  });
});
