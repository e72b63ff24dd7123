// Entry of the judge's worker thread: TypeScript through tsx, like bin/whetstone.mjs.
import { register } from "tsx/esm/api";

register();
await import("./thread.ts");
