/**
 * Rate-limited node status: nodes report as often as they like, the editor sees at most one
 * update per interval (default 500 ms) and always the latest one. One timer per node, armed only
 * while an update is pending, never one per message.
 */
import type { NodeStatus } from 'node-red';

export interface StatusTarget {
  status(status: NodeStatus | string): void;
}

export class ThrottledStatus {
  private lastSentAt = 0;
  private pending: NodeStatus | undefined;
  private lastKey = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly node: StatusTarget,
    private readonly intervalMs = 500,
  ) {}

  set(status: NodeStatus): void {
    const key = `${status.fill ?? ''}|${status.shape ?? ''}|${status.text ?? ''}`;
    if (key === this.lastKey && !this.timer) return;
    this.pending = status;
    const wait = this.lastSentAt + this.intervalMs - Date.now();
    if (wait <= 0 && !this.timer) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.flush();
        },
        Math.max(wait, 0),
      );
      this.timer.unref?.();
    }
  }

  clear(): void {
    this.set({});
  }

  /** Cancels a pending update (on close). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flush(): void {
    const status = this.pending;
    this.pending = undefined;
    if (!status) return;
    this.lastSentAt = Date.now();
    this.lastKey = `${status.fill ?? ''}|${status.shape ?? ''}|${status.text ?? ''}`;
    this.node.status(status);
  }
}

/** Compact counts for status texts: 950, 12.3k, 4.5M. */
export function compactCount(value: number): string {
  if (value < 1000) return String(Math.round(value));
  if (value < 1_000_000) return `${(value / 1000).toFixed(value < 10_000 ? 1 : 0)}k`;
  return `${(value / 1_000_000).toFixed(1)}M`;
}

/** Text cut to `max` characters with an ellipsis, so a status stays beside its node. */
export function clipText(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
