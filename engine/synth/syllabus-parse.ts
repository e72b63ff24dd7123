/**
 * Reading a syllabus a model drafted (GLAN, arXiv 2402.13064: per subject, class sessions each with
 * its key concepts) out of free text. Models write it in many shapes: "Session 3: Title" or "Week 3 –
 * Title" lines, markdown headers, numbered lists with bullets under each item, bold lines,
 * "Key concepts: a, b and c" on one line, a table. There is no grammar to hold them to, so this reads
 * lines and decides, once per draft, which kind of line starts a session:
 *
 * 1. lines named like a session ("Session 4", "Week 2", "Lecture 1", "Module 3"…), when there are two or more;
 * 2. else headers (markdown or a whole bold line) with list items or a concept label under them;
 * 3. else the outermost numbered items (bullets and deeper items are their concepts);
 * 4. else the outermost bullets (deeper ones are concepts); 5. else the rows of a table.
 *
 * Concepts are list items and "Key concepts:" tails under a session; items under other labels
 * (objectives, readings, assignments…) are skipped. A session without concepts is dropped when others
 * have some (a course title, "Midterm exam"), else its title stands for its one concept. What is
 * neither a session, a concept, a label nor skipped is counted, so a draft that went wrong says so;
 * nothing here throws. The trade-off: a draft in a shape none of these rules knows yields no session,
 * and the synthesis falls back to the subject itself (syllabus.ts), which is counted too.
 */

export interface Session {
  title: string;
  concepts: string[];
}

export interface ParsedSyllabus {
  sessions: Session[];
  /** Non-empty lines read as neither a session, a concept, a label nor something skipped under a label. */
  unread: number;
}

type Kind = "keyword" | "header" | "numbered" | "sub" | "bullet" | "label" | "ignore" | "table" | "text";
interface Item {
  kind: Kind;
  indent: number;
  text: string;
}

const KEYWORD = /^(?:session|class|lecture|week|module|unit|lesson|day|part|chapter|topic|meeting)\s*(?:\d+|[ivx]{1,4}(?=[:.)]|\s+[-–—]))(?:\s*[-–—&]\s*\d+)?\s*[:.)\-–—|]*\s*(?:\([^)]*\)\s*[:.\-–—]?\s*)?(.*)$/i;
const CONCEPT_LABEL = /^(?:key\s+|core\s+|main\s+|important\s+)?(?:concepts?|ideas|topics?(?:\s+covered)?|sub-?topics|content|terms)(?:\s+covered)?\s*[:：]\s*(.*)$/i;
const OTHER_LABEL =
  /^(?:learning\s+|session\s+)?(?:objectives?|outcomes?|goals?|description|overview|summary|readings?|assignments?|homework|activities|activity|assessments?|exercises?|materials?|resources?|duration|time|format|prerequisites?|notes?|practice|in-class\s+\w+|discussion(?:\s+questions)?)\s*[:：]\s*(.*)$/i;
const BULLET = /^[-*+•◦▪‣]\s+(.*)$/;
const NUMBERED = /^(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)]\s+(.*)$/i;
const SUB_NUMBERED = /^\d{1,3}(?:\.\d{1,3})+\.?\s+(.*)$/;

/** Read sessions and key concepts from a model's draft; never throws. */
export function parseSyllabus(draft: string): ParsedSyllabus {
  const items: Item[] = [];
  let unread = 0;
  for (const raw of draft.replace(/\r\n?/g, "\n").split("\n")) {
    const item = classify(raw);
    if (item) items.push(item);
  }
  const isSession = chooseSessions(items);
  const sessions: (Session & { pendingTitle: boolean })[] = [];
  let current: (Session & { pendingTitle: boolean }) | null = null;
  let mode: "concepts" | "skip" = "concepts";
  /** Under a label with its own text ("Objectives: …") only deeper items are skipped; under a bare one, all until the next label. */
  let skipDeeperThan = -1;
  let afterEmptyLabel = false;
  for (const [i, item] of items.entries()) {
    if (isSession(item, i)) {
      const { title, tail } = splitTitle(item.kind === "keyword" ? KEYWORD.exec(item.text)![1]! : item.text);
      current = { title, concepts: [], pendingTitle: title === "" };
      sessions.push(current);
      if (tail) current.concepts.push(...listOf(tail));
      mode = "concepts";
      afterEmptyLabel = false;
      continue;
    }
    if (item.kind === "label") {
      mode = "concepts";
      afterEmptyLabel = item.text === "";
      if (!current) unread++;
      else if (item.text) current.concepts.push(...listOf(item.text, true));
      continue;
    }
    if (item.kind === "ignore") {
      mode = "skip";
      skipDeeperThan = OTHER_LABEL.exec(item.text)![1]!.trim() ? item.indent : -1;
      afterEmptyLabel = false;
      if (!current) unread++;
      continue;
    }
    if (current?.pendingTitle && (item.kind === "text" || item.kind === "header")) {
      current.title = cleanTitle(item.text.replace(/^title\s*[:：]\s*/i, ""));
      current.pendingTitle = current.title === "";
      continue;
    }
    const listItem = item.kind === "numbered" || item.kind === "sub" || item.kind === "bullet";
    if (current && mode === "skip" && (listItem || item.kind === "text")) {
      if (item.indent > skipDeeperThan) continue;
      mode = "concepts";
    }
    if (current && mode === "concepts" && (listItem || (item.kind === "text" && afterEmptyLabel))) {
      const concept = conceptOf(item.text);
      if (concept) current.concepts.push(concept);
      else unread++;
      continue;
    }
    unread++;
  }
  const withConcepts = sessions.filter((s) => s.concepts.length > 0 && s.title !== "");
  const kept = withConcepts.length > 0 ? withConcepts : sessions.filter((s) => s.title !== "").map((s) => ({ ...s, concepts: [s.title] }));
  unread += sessions.length - kept.length;
  return { sessions: kept.map((s) => ({ title: s.title, concepts: dedupe(s.concepts) })), unread };
}

function classify(raw: string): Item | null {
  const expanded = raw.replace(/\t/g, "    ");
  const indent = expanded.length - expanded.trimStart().length;
  let text = expanded.trim();
  if (!text || /^[-=*_]{3,}$/.test(text) || /^\|?[\s:|-]+\|[\s:|-]*$/.test(text)) return null;
  if (text.startsWith("|")) return { kind: "table", indent, text };
  // A line that is all bold (with maybe a colon) reads as a header; emphasis marks go everywhere else.
  const bold = /^(?:\*\*|__)(.+?)(?:\*\*|__)\s*:?\s*$/.exec(text);
  text = text.replace(/\*\*|__|`/g, "").replace(/^\*(?!\s)(.+)\*$/, "$1").trim();
  const header = /^#{1,6}\s*(.*)$/.exec(text);
  let body = header ? header[1]!.trim() : text;
  const bullet = BULLET.exec(body);
  const sub = SUB_NUMBERED.exec(body);
  const numbered = NUMBERED.exec(body);
  const listed = bullet ?? sub ?? numbered;
  const inner = listed ? listed[1]!.trim() : body;
  if (CONCEPT_LABEL.test(inner)) return { kind: "label", indent, text: CONCEPT_LABEL.exec(inner)![1]!.trim() };
  if (OTHER_LABEL.test(inner)) return { kind: "ignore", indent, text: inner };
  if (KEYWORD.test(inner)) return { kind: "keyword", indent, text: inner };
  if (header || bold) return { kind: "header", indent, text: cleanTitle(listed && !header ? inner : body.replace(NUMBERED, "$1")) };
  if (bullet) return { kind: "bullet", indent, text: inner };
  if (sub) return { kind: "sub", indent, text: inner };
  if (numbered) return { kind: "numbered", indent, text: inner };
  body = body.trim();
  return { kind: "text", indent, text: body };
}

/** Which items start a session (see the module comment for the order of the rules). */
function chooseSessions(items: Item[]): (item: Item, index: number) => boolean {
  if (items.filter((i) => i.kind === "keyword").length >= 2) return (i) => i.kind === "keyword";
  const content = (i: Item) => i.kind === "numbered" || i.kind === "sub" || i.kind === "bullet" || i.kind === "label";
  const headed = new Set<number>();
  items.forEach((item, i) => {
    if (item.kind !== "header" && item.kind !== "keyword") return;
    for (let j = i + 1; j < items.length && items[j]!.kind !== "header" && items[j]!.kind !== "keyword"; j++) {
      if (content(items[j]!)) return void headed.add(i);
    }
  });
  if (headed.size >= 2) return (_, i) => headed.has(i);
  const outer = (kind: Kind) => Math.min(...items.filter((i) => i.kind === kind).map((i) => i.indent));
  if (items.some((i) => i.kind === "numbered")) {
    const indent = outer("numbered");
    return (i) => (i.kind === "numbered" && i.indent === indent) || (i.kind === "keyword" && i.indent <= indent);
  }
  if (items.some((i) => i.kind === "bullet")) {
    const indent = outer("bullet");
    return (i) => (i.kind === "bullet" && i.indent === indent) || i.kind === "keyword";
  }
  if (headed.size === 1 || items.some((i) => i.kind === "keyword")) return (i, index) => headed.has(index) || i.kind === "keyword";
  const rows = items.filter((i) => i.kind === "table");
  return (i) => i.kind === "table" && rows.indexOf(i) > 0 && tableRow(i.text) !== null;
}

/** A table row as "title: concepts" (the first cell not a number, then the last cell), or null for a header row. */
function tableRow(text: string): string | null {
  const cells = text.split("|").map((c) => c.replace(/\*\*|__|`/g, "").trim()).filter(Boolean);
  const named = cells.filter((c) => !/^(?:(?:session|week|class|lecture|day|module|unit)\s*)?\d+$/i.test(c));
  if (named.length === 0) return null;
  return named.length === 1 ? named[0]! : `${named[0]}: ${named[named.length - 1]}`;
}

/** "Title: a, b" or "Title – a, b" → the title and what follows (concepts, or a description dropped later). */
function splitTitle(text: string): { title: string; tail: string } {
  const row = text.startsWith("|") ? tableRow(text) ?? "" : text;
  const cut = /:\s+|\s+[-–—]\s+/.exec(row);
  if (!cut) return { title: cleanTitle(row), tail: "" };
  return { title: cleanTitle(row.slice(0, cut.index)), tail: row.slice(cut.index + cut[0].length).trim() };
}

/** A tail as concepts: a comma list, a label's list; a long sentence without commas is a description (none). */
function listOf(tail: string, labelled = false): string[] {
  const text = tail.replace(CONCEPT_LABEL, "$1").trim();
  const parts = text.split(/[;,](?![^()]*\))/).map((p) => p.trim().replace(/^(?:and|or)\s+/i, "")).filter(Boolean);
  if (parts.length === 1 && !labelled && !CONCEPT_LABEL.test(tail) && words(parts[0]!) > 6) return [];
  return parts.map(conceptOf).filter((c): c is string => c !== null);
}

/** A list item as a concept: its head when it is "Concept: what it means", trimmed; null when nothing is left or it is too long to be one. */
function conceptOf(text: string): string | null {
  let t = text.trim();
  const cut = /:\s+|\s+[-–—]\s+/.exec(t);
  if (cut && words(t.slice(0, cut.index)) <= 8) t = t.slice(0, cut.index);
  t = t.replace(/^["'“‘]+|["'”’]+$/g, "").replace(/[.;,:]+$/, "").trim();
  if (!t || /^\d+$/.test(t) || t.length > 200) return null;
  return t;
}

function cleanTitle(text: string): string {
  return text
    .replace(/^#+\s*/, "")
    .replace(/^(?:\d{1,3}|[ivx]{1,4})[.)]\s+/i, "")
    .replace(/^["'“]+|["'”]+$/g, "")
    .replace(/[:.]+$/, "")
    .trim();
}

function words(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function dedupe(concepts: string[]): string[] {
  const seen = new Set<string>();
  return concepts.filter((c) => {
    const key = c.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
