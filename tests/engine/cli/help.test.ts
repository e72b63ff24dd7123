/**
 * The option tables (engine/cli/table.ts) drive the help and the parser: every command is in
 * `whetstone help`, every command answers `--help` with each of its options, and an option the
 * command does not take is refused with the ones it does. The CLI's input meets the API contract:
 * what the contract refuses comes back as API_BAD_REQUEST naming the field.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../engine/paths";
import { COMMANDS } from "../../../engine/cli/table";
import { helpFor, main, mainHelp } from "../../../engine/cli/main";
import { parseCommand } from "../../../engine/cli/options";
import { Engine } from "../../../engine/api/engine";
import { tempHome } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";

const BIN = join(PROJECT_ROOT, "bin", "whetstone.mjs");

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, WHETSTONE_HOME: tempHome() }, encoding: "utf8", timeout: HANG_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("whetstone help, from the option tables", () => {
  it("`whetstone help` lists every usage line of every command", () => {
    const r = cli(["help"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(mainHelp() + "\n");
    for (const c of COMMANDS) for (const u of c.usage) expect(r.out).toContain(`  whetstone ${u.line}`);
  });

  it("`whetstone CMD --help` (and `whetstone help CMD`) gives its usage and every option with its help and default", () => {
    for (const c of COMMANDS) {
      const text = helpFor(c.name)!;
      for (const u of c.usage) expect(text).toContain(`whetstone ${u.line}`);
      for (const [name, o] of Object.entries(c.options)) {
        expect(text).toMatch(new RegExp(`^ {2}--${name}\\b.*`, "m"));
        expect(text.replace(/\s+/g, " ")).toContain(o.help);
        if (o.default !== undefined) expect(text.replace(/\s+/g, " ")).toContain(`(default ${o.default})`);
      }
    }
    const r = cli(["export", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(helpFor("export") + "\n");
    expect(r.out).toMatch(/--format F +what to write: safetensors, adapter, gguf, ollama, onnx\n/);
    expect(r.out).toMatch(/--shard-size MB +safetensors: largest weights file in MB \(default 5000\)\n/);
    expect(cli(["help", "models", "pull"]).out).toBe(helpFor("models pull") + "\n");
    expect(cli(["data", "--help"]).out).toContain("whetstone data preview FILE --model DIR --index N");
  });

  it("an option the command does not take is a usage error naming the command's options", () => {
    const r = cli(["train", "x.yaml", "--samples", "3"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "error[USAGE]: Unknown option '--samples' for `whetstone train`; its options: --json, --verbose, --plan, --preflight, --no-preflight, --skip-invalid, --devices, --nnodes, --node-rank, --master-addr, --master-port.\n" +
        "  hint: `whetstone train --help` explains each option.\n",
    );
    expect(cli(["cancel", "r", "--json"]).err).toContain("Unknown option '--json' for `whetstone cancel`; it takes no options.");
    expect(cli(["models", "fetch"]).err).toContain("Unknown `whetstone models fetch`; its commands: list, pull, login, logout.");
    expect(cli(["frobnicate"])).toMatchObject({ code: 2, err: expect.stringContaining("Unknown command 'frobnicate'.") });
  });

  it("option values are typed by the table: whole numbers, numbers, choices", () => {
    const parse = (argv: string[]) => parseCommand(COMMANDS, argv);
    expect(parse(["audit", "r1", "--samples", "20", "--embedding-model", "/m"])).toMatchObject({ args: ["r1"], values: { samples: 20, "embedding-model": "/m" } });
    expect(parse(["eval", "r1", "--temperature", "0.7"])).toMatchObject({ values: { temperature: 0.7 } });
    expect(() => parse(["audit", "r1", "--samples", "2.5"])).toThrow("--samples must be a whole number, got '2.5'.");
    expect(() => parse(["export", "r1", "--format", "zip"])).toThrow("--format must be one of safetensors, adapter, gguf, ollama, onnx, got 'zip'.");
    expect(parse(["data", "preview", "--config", "c.yaml", "--index", "5"])).toMatchObject({ spec: { name: "data preview" }, args: [], values: { config: "c.yaml", index: 5 } });
  });

  it("what the contract refuses reaches the CLI user as API_BAD_REQUEST naming the field", async () => {
    const err: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((t: string) => err.push(t)) as never;
    try {
      // The table lets --resamples 0 through (a whole number); the contract wants a positive one.
      expect(await main(["eval", "--judgments", join(PROJECT_ROOT, "package.json"), "--resamples", "0"])).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(err.join("")).toContain("error[API_BAD_REQUEST]: scoreJudgments: resamples: ");
    await expect(new Engine({ home: tempHome() }).call("getRun", { id: "" })).rejects.toMatchObject({ code: "API_BAD_REQUEST", message: expect.stringMatching(/^getRun: id: /) });
  });
});
