/** `whetstone` entry point: parses arguments against the command table and runs the command. */
import { VERSION } from "../version";
import { WhetstoneError } from "../util/errors";
import type { Engine } from "../api/engine";
import { EXIT, terminalIo } from "./io";
import { commandHelp, parseCommand, usageLines } from "./options";
import { COMMANDS } from "./table";

export function mainHelp(): string {
  return `whetstone ${VERSION}: fine-tune a language model on this machine

Usage:
${usageLines(COMMANDS)}

Every command takes --help for its options and their defaults (whetstone train --help).
  --version                     print the version

RUN is a run id, a unique prefix of one, or a run name. Runs live in $WHETSTONE_HOME/runs
(default: the OS app-data folder). Exit codes: 0 completed, 1 failed, 2 bad usage or config,
3 interrupted (resumable), 130 cancelled.`;
}

/** `whetstone help [CMD]`, `whetstone CMD --help`: a command, a group (`models`), or everything. */
export function helpFor(topic: string | undefined): string | null {
  if (!topic) return mainHelp();
  const exact = COMMANDS.find((c) => c.name === topic);
  if (exact) return commandHelp(exact);
  const group = COMMANDS.filter((c) => c.name.startsWith(`${topic} `));
  return group.length ? `Usage:\n${usageLines(group)}\n\n\`whetstone ${topic} COMMAND --help\` lists a command's options.` : null;
}

export async function main(argv: string[]): Promise<number> {
  const words = argv.filter((a) => !a.startsWith("-"));
  if (words.length === 0) return argv.includes("--version") ? print(VERSION) : print(mainHelp());
  if (words[0] === "help") {
    const topic = words.slice(1, 3).join(" ");
    const text = helpFor(topic || undefined) ?? helpFor(words[1]);
    if (text) return print(text);
    process.stderr.write(`No command '${topic}'.\n\n${mainHelp()}\n`);
    return EXIT.usage;
  }
  let engine: Engine | undefined;
  try {
    const parsed = parseCommand(COMMANDS, argv);
    if ("group" in parsed) return print(helpFor(parsed.group)!);
    const { spec, args, values } = parsed;
    if (values.help) return print(commandHelp(spec));
    const io = terminalIo();
    return await spec.run(
      {
        io,
        engine: async () => (engine ??= new (await import("../api/engine")).Engine()),
      },
      args,
      values,
    );
  } catch (e) {
    if (e instanceof WhetstoneError) {
      process.stderr.write(e.format() + "\n");
      return e.code === "USAGE" || e.code === "NODES_INVALID" || e.code.startsWith("CONFIG") || e.code.startsWith("MODEL") || e.code.startsWith("DATA") ? EXIT.usage : EXIT.failed;
    }
    throw e;
  }
}

function print(text: string): number {
  process.stdout.write(text + "\n");
  return EXIT.ok;
}
