/**
 * An async mutex with FIFO hand-over and an optional acquire timeout. better-sqlite3 runs
 * statements synchronously, but a transaction spans awaits; the mutex keeps a second transaction
 * (or a plain statement) from running inside the first one's BEGIN..COMMIT while it awaits.
 */
import { DatabaseError } from './errors';

interface Waiter {
  grant: () => void;
  timer?: NodeJS.Timeout;
}

export class AsyncMutex {
  private held = false;
  private readonly waiters: Waiter[] = [];

  get locked(): boolean {
    return this.held;
  }

  /** How many callers wait for the mutex. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves once the caller holds the mutex. With `timeoutMs`, rejects with a transient
   * DatabaseError (code `DB_LOCK_TIMEOUT`) if it is not granted in time.
   */
  acquire(timeoutMs?: number, what = 'the database lock'): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          if (waiter.timer) clearTimeout(waiter.timer);
          resolve();
        },
      };
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(
          () => {
            const index = this.waiters.indexOf(waiter);
            if (index >= 0) this.waiters.splice(index, 1);
            reject(
              new DatabaseError(`Timed out after ${timeoutMs} ms waiting for ${what}`, { kind: 'transient', code: 'DB_LOCK_TIMEOUT' }),
            );
          },
          Math.max(0, timeoutMs),
        );
      }
      this.waiters.push(waiter);
    });
  }

  /** Hands the mutex to the next waiter (it stays held), or frees it. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.held = false;
  }
}
