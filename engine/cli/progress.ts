/**
 * Following a run on the terminal: a redrawn progress bar with ETA on a TTY, plain lines (at most
 * one a second, plus every phase change and the last step) when output goes to a file or a pipe.
 */
import type { EngineEvent, ProgressInfo } from "../api/events";
import type { MetricsRow } from "../runs/store";
import { bar, duration, loss, num, rate } from "./format";

export interface ProgressSink {
  isTTY: boolean;
  columns?: number;
  write(text: string): void;
}

export class RunProgress {
  private lastPlain = 0;
  private lastPhaseMessage = "";
  private drawn = false;

  constructor(
    private readonly runId: string,
    private readonly out: ProgressSink,
    private readonly verbose = false,
  ) {}

  handle(event: EngineEvent): void {
    if (event.type === "run" || ("runId" in event && event.runId !== this.runId)) return;
    if (event.type === "metrics") this.metrics(event.row);
    else if (event.type === "progress") this.progress(event.progress);
    else if (event.type === "log" && this.verbose) this.line(event.line);
  }

  /** Print a line above the bar (the bar is redrawn by the next update). */
  line(text: string): void {
    this.clear();
    this.out.write(text + "\n");
  }

  finish(): void {
    this.clear();
  }

  private metrics(m: MetricsRow): void {
    const step = m.step;
    const total = m.total_steps ?? 0;
    const text =
      `train ${String(step).padStart(String(total).length)}/${total} steps` +
      `  loss ${loss(m.loss)}${typeof m.reward === "number" ? `  reward ${num(m.reward, 2)}` : ""}  lr ${num(m.lr, 2)}  ${rate(m.tokens_per_s)} tok/s` +
      `  elapsed ${duration(m.elapsed_s)}  ETA ${duration(m.eta_s)}`;
    if (this.out.isTTY) {
      const fraction = total > 0 ? step / total : 0;
      this.draw(`${bar(fraction)} ${String(Math.floor(fraction * 100)).padStart(3)}%  ${text}`);
    } else {
      const now = Date.now();
      if (now - this.lastPlain >= 1000 || step === total || step === 1) {
        this.lastPlain = now;
        this.out.write(text + "\n");
      }
    }
  }

  private progress(p: ProgressInfo): void {
    if (p.phase === "train") return;
    const pct = p.total ? ` ${Math.floor((100 * p.current) / p.total)}%` : "";
    const eta = p.eta_s !== null && p.eta_s > 0 ? `  ETA ${duration(p.eta_s)}` : "";
    const text = `${p.phase}${pct}  ${p.message}${eta}`;
    if (this.out.isTTY) this.draw(text);
    else if (text !== this.lastPhaseMessage && (p.message !== this.lastPhaseMessage || Date.now() - this.lastPlain >= 1000)) {
      this.lastPhaseMessage = text;
      this.lastPlain = Date.now();
      this.out.write(text + "\n");
    }
  }

  private draw(text: string): void {
    const width = (this.out.columns ?? 120) - 1;
    this.out.write(`\r\x1b[2K${text.length > width ? text.slice(0, width) : text}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn && this.out.isTTY) this.out.write("\r\x1b[2K");
    this.drawn = false;
  }
}
