/**
 * The folder browser the wizard uses where it has no native dialog (the browser build): it lists
 * the sub-folders of one folder at a time, never files' contents, and only inside the user's home,
 * the Hugging Face cache and mounted volumes (/mnt, /media, /Volumes, /run/media). A path outside
 * those roots, or one that escapes them through `..` or a symlink, is refused: the loopback API is
 * guarded by a token, but listing the whole disk is still more than choosing a model needs.
 */
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { WhetstoneError } from "../util/errors";
import { hubCache } from "../models/hub";

export interface FolderRoot {
  label: string;
  path: string;
}

export interface FolderEntry {
  name: string;
  path: string;
  /** Holds config.json (a model) or adapter_config.json (an adapter). */
  model: "model" | "adapter" | null;
}

export interface FolderListing {
  path: string;
  /** The folder above, when it is still inside a root. */
  parent: string | null;
  roots: FolderRoot[];
  folders: FolderEntry[];
  /** This folder itself is a model or adapter folder. */
  model: FolderEntry["model"];
  /** More sub-folders than are listed. */
  truncated: boolean;
}

const MAX_ENTRIES = 500;

export function folderRoots(env: NodeJS.ProcessEnv = process.env): FolderRoot[] {
  const candidates: FolderRoot[] = [
    { label: "Home", path: homedir() },
    { label: "Hugging Face cache", path: hubCache(env) },
    ...["/mnt", "/media", "/Volumes", "/run/media"].map((p) => ({ label: p, path: p })),
  ];
  const seen = new Set<string>();
  const out: FolderRoot[] = [];
  for (const c of candidates) {
    if (!existsSync(c.path) || !statSync(c.path).isDirectory()) continue;
    const real = realpathSync(c.path);
    if (seen.has(real)) continue;
    seen.add(real);
    out.push({ label: c.label, path: real });
  }
  return out;
}

const inside = (path: string, root: string) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

export function listFolders(path: string | undefined, env: NodeJS.ProcessEnv = process.env): FolderListing {
  const roots = folderRoots(env);
  const asked = resolve(path ?? roots[0]?.path ?? homedir());
  if (!existsSync(asked) || !statSync(asked).isDirectory()) {
    throw new WhetstoneError({ code: "FOLDER_NOT_FOUND", message: `There is no folder at ${asked}.`, hint: "Choose one of the places on the left, or type the folder's full path.", where: asked });
  }
  const real = realpathSync(asked);
  const root = roots.find((r) => inside(real, r.path));
  if (!root) {
    throw new WhetstoneError({
      code: "FOLDER_OUTSIDE_ROOTS",
      message: `${asked} is outside the places the folder browser shows (${roots.map((r) => r.path).join(", ")}).`,
      hint: "Type the model folder's full path in the field instead.",
      where: asked,
    });
  }
  const folders: FolderEntry[] = [];
  let total = 0;
  for (const name of readdirSync(real).sort((a, b) => a.localeCompare(b))) {
    if (name.startsWith(".")) continue;
    const full = join(real, name);
    let isDir = false;
    try {
      isDir = statSync(full).isDirectory();
    } catch {
      continue; // a dangling link or a folder we may not read
    }
    if (!isDir) continue;
    total++;
    if (folders.length < MAX_ENTRIES) folders.push({ name, path: full, model: modelKind(full) });
  }
  const up = dirname(real);
  return { path: real, parent: up !== real && inside(up, root.path) ? up : null, roots, folders, model: modelKind(real), truncated: total > folders.length };
}

function modelKind(dir: string): FolderEntry["model"] {
  try {
    if (existsSync(join(dir, "config.json"))) return "model";
    if (existsSync(join(dir, "adapter_config.json"))) return "adapter";
  } catch {
    // unreadable: not a model we can use
  }
  return null;
}

