/**
 * The one error type the engine throws at users. It always says what is wrong, where (file, line,
 * field) and what to do; the CLI prints it as-is and the HTTP API returns it as JSON.
 */
export interface WhetstoneErrorInfo {
  code: string;
  message: string;
  hint: string;
  /** file, file:line or a config field path. */
  where?: string;
  details?: string[];
}

export class WhetstoneError extends Error implements WhetstoneErrorInfo {
  readonly code: string;
  readonly hint: string;
  readonly where?: string;
  readonly details?: string[];

  constructor(info: WhetstoneErrorInfo) {
    super(info.message);
    this.name = "WhetstoneError";
    this.code = info.code;
    this.hint = info.hint;
    this.where = info.where;
    this.details = info.details;
  }

  toJSON(): WhetstoneErrorInfo {
    return { code: this.code, message: this.message, hint: this.hint, where: this.where, details: this.details };
  }

  /** Readable multi-line form for terminals and logs. */
  format(): string {
    const lines = [`error[${this.code}]: ${this.message}`];
    if (this.where) lines.push(`  at ${this.where}`);
    for (const d of this.details ?? []) lines.push(`  - ${d}`);
    if (this.hint) lines.push(`  hint: ${this.hint}`);
    return lines.join("\n");
  }
}
