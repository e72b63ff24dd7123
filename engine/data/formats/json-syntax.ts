/**
 * Where and why a JSON text is invalid. JSON.parse's messages differ between Node versions and
 * some carry no position at all ("Unexpected end of JSON input"), so after JSON.parse has failed
 * this small recursive-descent checker finds the first error itself: one message wording, and a
 * position on every Node. It runs only on text already known to be invalid, so its speed does not
 * matter.
 */

export interface JsonSyntaxError {
  /** 0-based index into the text (UTF-16 code units). */
  index: number;
  message: string;
}

class Fail extends Error {
  constructor(readonly index: number, message: string) {
    super(message);
  }
}

export function locateJsonError(text: string): JsonSyntaxError | null {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const what = () => (i >= n ? "the end of the line" : `'${text[i]}'`);
  const value = (depth: number): void => {
    if (depth > 5000) throw new Fail(i, "nesting deeper than 5000 levels");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Fail(i, `expected a double-quoted property name, found ${what()}${text[i] === "}" ? " (a trailing comma?)" : ""}`);
        string();
        ws();
        if (text[i] !== ":") throw new Fail(i, `expected ':' after the property name, found ${what()}`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") return void i++;
        throw new Fail(i, `expected ',' or '}' after a property value, found ${what()}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        ws();
        if (text[i] === "]") throw new Fail(i, "a trailing comma before ']'");
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") return void i++;
        throw new Fail(i, `expected ',' or ']' after an array element, found ${what()}`);
      }
    }
    if (c === '"') return string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    if (i >= n) throw new Fail(i, "unexpected end: the value is missing or incomplete");
    if (c === "'") throw new Fail(i, "strings must use double quotes, not single quotes");
    throw new Fail(i, `unexpected ${what()} where a value should start`);
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      if (i >= n) throw new Fail(start, "a string that is never closed");
      const c = text.charCodeAt(i);
      if (c === 0x22) return void i++;
      if (c < 0x20) throw new Fail(i, "a raw control character (tab or line break) inside a string: escape it as \\t or \\n");
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Fail(i, "an invalid \\u escape (needs 4 hex digits)");
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) throw new Fail(i, `an invalid escape '\\${e ?? ""}'`);
        i += 2;
        continue;
      }
      i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) throw new Fail(i, "an invalid number");
    i += m[0].length;
  };
  try {
    value(0);
    ws();
    if (i < n) throw new Fail(i, `unexpected ${what()} after the end of the JSON value`);
    return null;
  } catch (e) {
    if (e instanceof Fail) return { index: Math.min(e.index, n), message: e.message };
    throw e;
  }
}

/** 1-based line and column of an index in a text that starts at `line`, `column`. */
export function lineColumn(text: string, index: number, line = 1, column = 1): { line: number; column: number } {
  for (let i = 0; i < index && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      column = 1;
    } else column++;
  }
  return { line, column };
}
