/**
 * Reading a request body with a size limit. A body over the limit is still read to its end (and
 * thrown away) before the answer goes out: closing the connection while the client is still
 * sending makes its TCP stack discard our 413 and report a reset instead. Past `drainLimit` the
 * client is not worth waiting for: the caller answers and closes (`drained: false`).
 */
import type { IncomingMessage } from "node:http";
import { WhetstoneError } from "../util/errors";

export const MAX_JSON_BODY = 4 * 1024 * 1024;
const DRAIN_LIMIT = 64 * 1024 * 1024;

export class BodyTooLarge extends WhetstoneError {
  constructor(
    limit: number,
    readonly drained: boolean,
  ) {
    super({ code: "API_TOO_LARGE", message: `The request body is over ${Math.round(limit / 1024 / 1024)} MB (${limit} bytes), the most an API call takes.`, hint: "Send the path of a file on this machine rather than its contents (uploads of dataset files go to uploadDataset)." });
  }
}

export function readBody(req: IncomingMessage, limit = MAX_JSON_BODY, drainLimit = DRAIN_LIMIT): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > drainLimit) {
      req.pause();
      reject(new BodyTooLarge(limit, false));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else if (size > drainLimit) {
        cleanup();
        req.pause();
        reject(new BodyTooLarge(limit, false));
      }
    };
    const onEnd = () => {
      cleanup();
      if (size > limit) reject(new BodyTooLarge(limit, true));
      else resolve(Buffer.concat(chunks));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

/** The body as JSON: empty is `{}`, anything unparsable a 400 saying where it broke. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req)).toString("utf8");
  if (text.trim().length === 0) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new WhetstoneError({ code: "API_BAD_JSON", message: `The request body is not valid JSON: ${(e as Error).message}.`, hint: "Send one JSON object, e.g. {\"id\": \"…\"}, with the method's fields." });
  }
}
