/**
 * Preference data into {prompt, chosen, rejected} message lists, and unpaired preference into
 * {messages, label}, from the shapes public datasets use:
 *
 * - TRL's explicit (`prompt` + `chosen`/`rejected`, strings or message lists) and implicit form
 *   (chosen/rejected whole conversations: the turns they share at the start are the prompt);
 * - Anthropic HH (`chosen`/`rejected` each a whole "\n\nHuman: … \n\nAssistant: …" transcript):
 *   the turns are split, the prompt is the conversation up to the last assistant turn, which must
 *   be the same on both sides, and the two last answers are chosen and rejected;
 * - LLaMA-Factory: ShareGPT preference (`conversations` as the prompt, chosen/rejected single
 *   {from, value} turns), Alpaca preference (`instruction`/`input` as the prompt) and v1
 *   (`chosen_messages`/`rejected_messages`, mapped onto chosen/rejected by schema.ts);
 * - unpaired (KTO): LLaMA-Factory's `messages` + `label`, TRL's `prompt`/`completion`/`label`.
 *
 * A pair that would reach the worker without a prompt, or with identical sides, is an error here
 * with its line: the worker could only fail on it (an empty conversation) or learn nothing.
 */
import { alpaca, messageList, sameMessage, side, type Conversation, type RowCheck } from "./normalize";
import { toolList, withTools } from "./tools";
import { checkConversation } from "./validate";
import type { Message, Role, Sample } from "./types";

const HH_TURN = /\n\n(Human|Assistant):[ ]?/g;

/** The turns of an HH-style transcript, or null when the text is not one. */
export function parseTranscript(text: string): Message[] | null {
  const t = text.startsWith("Human:") ? `\n\n${text}` : text;
  if (!/^\s*\n\nHuman:/.test(t.replace(/^[ \t]+/, "")) || !t.includes("\n\nAssistant:")) return null;
  const out: Message[] = [];
  const marks = [...t.matchAll(HH_TURN)];
  for (const [i, m] of marks.entries()) {
    const end = i + 1 < marks.length ? marks[i + 1]!.index! : t.length;
    out.push({ role: (m[1] === "Human" ? "user" : "assistant") as Role, content: t.slice(m.index! + m[0].length, end).trim() });
  }
  return out;
}

export function preference(rec: Record<string, unknown>, row: RowCheck): Sample | null {
  const system = row.text(rec.system, "system");
  const tools = toolList(row, rec.tools);
  if (system === null || tools === null) return null;
  const hh = transcripts(rec, row);
  if (hh === null) return null;
  let chosen: Conversation | null;
  let rejected: Conversation | null;
  let prompt: Conversation | null = { messages: [], fields: [] };
  if (hh) ({ prompt, chosen, rejected } = hh);
  else {
    chosen = side(row, rec.chosen, "chosen", "assistant");
    rejected = side(row, rec.rejected, "rejected", "assistant");
    prompt = explicitPrompt(rec, row);
    if (!chosen || !rejected || !prompt) return null;
    if (prompt.messages.length === 0) {
      // Implicit prompt: the turns chosen and rejected share at the start.
      let k = 0;
      while (k < chosen.messages.length - 1 && k < rejected.messages.length - 1 && sameMessage(chosen.messages[k]!, rejected.messages[k]!)) k++;
      prompt = { messages: chosen.messages.slice(0, k), fields: chosen.fields.slice(0, k) };
      for (const s of [chosen, rejected]) {
        s.messages.splice(0, k);
        s.fields.splice(0, k);
      }
    }
  }
  if (!chosen || !rejected || !prompt) return null;
  if (system && prompt.messages[0]?.role !== "system") prompt.messages.unshift({ role: "system", content: system });
  if (!prompt.messages.some((m) => m.role === "user" && m.content.trim() !== "")) {
    const given = rec.prompt !== undefined && rec.prompt !== null;
    row.add("DATA_EMPTY_PROMPT", given ? "prompt" : "chosen", given ? `${row.name("prompt")} is empty` : `the pair has no prompt: no prompt field, and ${row.name("chosen")} and ${row.name("rejected")} share no user turn before their answers`);
  }
  for (const [name, s] of [["chosen", chosen], ["rejected", rejected]] as const) {
    const answer = s.messages.findIndex((m) => m.role === "assistant");
    if (answer < 0) row.add("DATA_NO_ASSISTANT", name, `${row.name(name)} has no assistant answer`);
    else if (s.messages[answer]!.content.trim() === "" && !s.messages[answer]!.tool_calls?.length) row.add("DATA_EMPTY_ASSISTANT", s.fields[answer]!.content, `${row.name(s.fields[answer]!.content)} is empty`);
  }
  if (!row.failed && chosen.messages.length === rejected.messages.length && chosen.messages.every((m, i) => sameMessage(m, rejected.messages[i]!) && JSON.stringify(m.tool_calls) === JSON.stringify(rejected.messages[i]!.tool_calls))) {
    row.add("DATA_PAIR_IDENTICAL", "chosen", `${row.name("chosen")} and ${row.name("rejected")} are identical: the pair teaches nothing`);
  }
  return row.failed ? null : withTools({ prompt: prompt.messages, chosen: chosen.messages, rejected: rejected.messages }, tools);
}

/** The prompt a row names: `prompt`, a ShareGPT/chat conversation, or Alpaca fields; empty when none. */
function explicitPrompt(rec: Record<string, unknown>, row: RowCheck): Conversation | null {
  if (rec.prompt !== undefined && rec.prompt !== null) {
    if (typeof rec.prompt === "string") {
      // A prompt written as an HH transcript ending in "Assistant:" (e.g. full-hh-rlhf).
      const turns = parseTranscript(rec.prompt);
      if (turns && turns.at(-1)?.role === "assistant" && turns.at(-1)!.content === "") {
        const messages = turns.slice(0, -1);
        return { messages, fields: messages.map(() => ({ content: "prompt" })) };
      }
    }
    return side(row, rec.prompt, "prompt", "user");
  }
  for (const key of ["conversations", "messages"]) {
    if (rec[key] === undefined || rec[key] === null) continue;
    const list = rec[key];
    const style = Array.isArray(list) && list.some((m) => m && typeof m === "object" && "from" in m) ? "sharegpt" : "chat";
    return messageList(row, list, key, style);
  }
  if (typeof rec.instruction === "string") {
    // Alpaca preference: the prompt is what Alpaca SFT would render before its output.
    const conv = alpaca({ ...rec, system: undefined, output: "-" }, row);
    if (!conv || !("messages" in conv)) return null;
    const messages = conv.messages.slice(0, -1);
    return { messages, fields: messages.map((m) => ({ content: m.role === "user" ? "instruction" : "history" })) };
  }
  return { messages: [], fields: [] };
}

/** HH transcripts: undefined when chosen/rejected are not transcripts, null when they are but are bad. */
function transcripts(rec: Record<string, unknown>, row: RowCheck): { prompt: Conversation; chosen: Conversation; rejected: Conversation } | null | undefined {
  if (typeof rec.chosen !== "string" || typeof rec.rejected !== "string" || (rec.prompt !== undefined && rec.prompt !== null && rec.prompt !== "")) return undefined;
  const c = parseTranscript(rec.chosen);
  const r = parseTranscript(rec.rejected);
  if (!c || !r) return undefined;
  for (const [name, t] of [["chosen", c], ["rejected", r]] as const) {
    if (t.at(-1)!.role !== "assistant") {
      row.add("DATA_NO_ASSISTANT", name, `${row.name(name)} is a Human/Assistant transcript that ends with a Human turn, not an answer`);
      return null;
    }
  }
  const pc = c.slice(0, -1);
  const pr = r.slice(0, -1);
  const differ = pc.findIndex((m, i) => !pr[i] || !sameMessage(m, pr[i]!));
  if (differ >= 0 || pc.length !== pr.length) {
    const at = differ >= 0 ? differ : Math.min(pc.length, pr.length);
    row.add("DATA_PAIR_PREFIX", "chosen", `${row.name("chosen")} and ${row.name("rejected")} are transcripts that differ before their last answers (at turn ${at + 1} of ${Math.max(pc.length, pr.length) + 1}), so they are not two answers to one conversation`);
    return null;
  }
  const conv = (messages: Message[], field: string): Conversation => ({ messages, fields: messages.map(() => ({ content: field })) });
  return { prompt: conv(pc, "chosen"), chosen: conv([c.at(-1)!], "chosen"), rejected: conv([r.at(-1)!], "rejected") };
}

export function unpaired(rec: Record<string, unknown>, row: RowCheck): Sample | null {
  const tools = toolList(row, rec.tools);
  let conv: Conversation | null;
  if (rec.messages !== undefined || rec.conversations !== undefined) {
    const key = rec.messages !== undefined ? "messages" : "conversations";
    const list = rec[key];
    conv = messageList(row, list, key, Array.isArray(list) && list.some((m) => m && typeof m === "object" && "from" in m) ? "sharegpt" : "chat");
    if (conv) checkConversation(row, conv.messages, conv.fields, key);
  } else {
    const prompt = side(row, rec.prompt, "prompt", "user");
    const completion = side(row, rec.completion, "completion", "assistant");
    conv = prompt && completion ? { messages: [...prompt.messages, ...completion.messages], fields: [...prompt.fields, ...completion.fields] } : null;
    if (prompt && prompt.messages.every((m) => m.content.trim() === "")) row.add("DATA_EMPTY_PROMPT", "prompt", `${row.name("prompt")} is empty`);
    if (conv) checkConversation(row, conv.messages, conv.fields);
  }
  if (!conv || tools === null || row.failed) return null;
  return withTools({ messages: conv.messages, label: rec.label as boolean }, tools);
}
