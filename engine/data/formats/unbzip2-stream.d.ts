// unbzip2-stream ships no types; engine/data/formats/compression.ts uses this call only.
declare module "unbzip2-stream" {
  import type { Duplex } from "node:stream";
  export default function unbzip2(): Duplex;
}
