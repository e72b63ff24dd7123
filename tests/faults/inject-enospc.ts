/**
 * ENOSPC injected where the engine's bytes hit the disk. A test file calls
 * `vi.mock("node:fs", enospcFs)` and sets `enospc.match` to pick the paths whose writes fail: the
 * open succeeds and the write fails, as on a real full disk (the file exists, empty), for
 * writeSync, appendFileSync, writeFileSync and createWriteStream. `enospc.hits` records the paths.
 */
import { Writable } from "node:stream";

export const enospc: { match: ((path: string) => boolean) | null; hits: string[] } = { match: null, hits: [] };

function fail(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: "ENOSPC", errno: -28, syscall: "write", path });
}

function hit(path: unknown): boolean {
  const p = String(path);
  if (!enospc.match?.(p)) return false;
  enospc.hits.push(p);
  return true;
}

export async function enospcFs(importOriginal: () => Promise<typeof import("node:fs")>) {
  const real = await importOriginal();
  const fds = new Map<number, string>();
  const mocked = {
    ...real,
    openSync: (...args: Parameters<typeof real.openSync>) => {
      const fd = real.openSync(...args);
      fds.set(fd, String(args[0]));
      return fd;
    },
    closeSync: (fd: number) => {
      fds.delete(fd);
      real.closeSync(fd);
    },
    writeSync: ((fd: number, ...rest: unknown[]) => {
      const path = fds.get(fd);
      if (path !== undefined && hit(path)) throw fail(path);
      return (real.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    }) as typeof real.writeSync,
    appendFileSync: (...args: Parameters<typeof real.appendFileSync>) => {
      if (hit(args[0])) {
        if (!real.existsSync(String(args[0]))) real.writeFileSync(String(args[0]), ""); // created, then nothing fits
        throw fail(String(args[0]));
      }
      real.appendFileSync(...args);
    },
    writeFileSync: (...args: Parameters<typeof real.writeFileSync>) => {
      if (hit(args[0])) throw fail(String(args[0]));
      real.writeFileSync(...args);
    },
    createWriteStream: ((path: string, opts?: unknown) => {
      if (!hit(path)) return real.createWriteStream(path, opts as Parameters<typeof real.createWriteStream>[1]);
      real.writeFileSync(path, "");
      return new Writable({ write: (_chunk, _enc, cb) => cb(fail(path)) });
    }) as typeof real.createWriteStream,
  };
  return { ...mocked, default: mocked };
}
