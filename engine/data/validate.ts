/**
 * Conversation-level checks on normalized messages, reported at the source field: the turn order
 * problems chat templates fail on deep inside training (user after user, an answer first, no
 * answer), and answers that would teach nothing (empty). `tool` turns may follow each other
 * (several tool results). A grpo prompt has the same turn order and ends where the model answers.
 */
import type { RowCheck } from "./normalize";
import type { Message } from "./types";

/** Source field paths of one message: its role field (absent for implied roles) and content. */
export interface MessageFields {
  role?: string;
  content: string;
}

export function checkConversation(row: RowCheck, messages: Message[], fields: MessageFields[], listField?: string): void {
  if (!checkTurnOrder(row, messages, fields, listField)) return;
  let answers = 0;
  for (const [i, m] of messages.entries()) {
    if (m.role !== "assistant") continue;
    answers++;
    // A turn that only calls tools has no text, and that is its answer.
    if (m.content.trim() === "" && !m.tool_calls?.length) row.add("DATA_EMPTY_ASSISTANT", fields[i]!.content, `${row.name(fields[i]!.content)}: the assistant turn is empty`);
  }
  if (answers === 0) {
    const roles = messages.map((m) => m.role).join(", ");
    row.add("DATA_NO_ASSISTANT", listField, `no non-empty assistant turn to train on (turns: ${roles})`);
  } else if (messages.at(-1)!.role !== "assistant") {
    const last = fields.at(-1)!;
    const f = last.role ?? last.content;
    row.add("DATA_NOT_ENDING_WITH_ASSISTANT", f, `the conversation ends with a ${messages.at(-1)!.role} turn (${row.name(f)}), after the last answer`);
  }
}

/** A grpo prompt: the turns the model answers next, so the last is the user's (or a tool's result) and some user turn has text. */
export function checkPrompt(row: RowCheck, messages: Message[], fields: MessageFields[], listField: string): void {
  if (!checkTurnOrder(row, messages, fields, listField)) return;
  const last = messages.at(-1)!;
  if (!messages.some((m) => m.role === "user" && m.content.trim() !== "")) {
    row.add("DATA_EMPTY_PROMPT", listField, `${row.name(listField)} has no user turn with text: there is nothing to answer`, { hint: "Give each row the question the model should answer (a prompt field, or a conversation that ends with the user's turn)." });
  } else if (last.role !== "user" && last.role !== "tool") {
    const f = fields.at(-1)!.role ?? fields.at(-1)!.content;
    row.add("DATA_NOT_ENDING_WITH_USER", f, `the prompt ends with a ${last.role} turn (${row.name(f)}): grpo samples the answer to the last user turn`);
  }
}

/** The checks every list of turns gets: not empty, not opening with an answer, no two user or assistant turns in a row. */
function checkTurnOrder(row: RowCheck, messages: Message[], fields: MessageFields[], listField?: string): boolean {
  if (messages.length === 0) {
    row.add("DATA_EMPTY_CONVERSATION", listField, `${row.name(listField ?? "messages")} is empty`);
    return false;
  }
  if (messages[0]!.role === "assistant") {
    // The answer has no prompt: templates render the turns before it, and there are none.
    const f = fields[0]!.role ?? fields[0]!.content;
    row.add("DATA_LEADING_ASSISTANT", f, `the conversation starts with an assistant turn (${row.name(f)}): there is nothing before it to answer`);
  }
  for (let i = 1; i < messages.length; i++) {
    const [a, b] = [messages[i - 1]!, messages[i]!];
    if (a.role === b.role && (a.role === "user" || a.role === "assistant")) {
      const f = fields[i]!.role ?? fields[i]!.content;
      row.add("DATA_CONSECUTIVE_ROLES", f, `${row.name(f)}: two ${a.role} turns in a row (turns ${i} and ${i + 1})`);
      break;
    }
  }
  return true;
}
