/**
 * Schedule mode, one step per tick: take the lease → deliver what the outbox still holds for the
 * oldest window → plan the windows due after the bookmark (none that rows still on their way in may
 * belong to, see ScheduleOptions.heldSince) → for each, in order: fetch rows for [start, end) →
 * batches → outbox (durable) → POST each batch, retrying per policy (delivery.ts) → when every batch
 * of the window has a 2xx, advance the bookmark (compare-and-set) and drop the window from the
 * outbox. A window that fails stays where it is and is tried again next tick; later windows wait
 * for it (never skipped).
 */
import type { BookmarkStore } from './bookmark';
import type { DeliveryContext } from './delivery';
import { ConnectorError } from './errors';
import { errorText } from './events';
import type { OutboxUnit } from './outbox';
import {
  backlogSize,
  DEFAULT_MAX_WINDOWS_PER_TICK,
  DEFAULT_SETTLE_MS,
  dueWindows,
  firstWindowStart,
  type SchedulePlanOptions,
  type TimeWindow,
} from './windows';

export interface ScheduleOptions {
  intervalMs: number;
  settleMs?: number;
  maxWindowsPerTick?: number;
  initialStart?: number;
  /** How long the lease lasts without renewal; renewed before every window. Default max(2 × interval, 5 min). */
  leaseTtlMs?: number;
  /**
   * Since when rows may still be on their way into the database (a writer's backlog, an ingest
   * catching up; lib/arrivals.ts), or null. Windows wait until they end a settle delay before it.
   */
  heldSince?: (now: number) => number | null;
}

export interface TickReport {
  /** Why nothing was scheduled, if so. */
  skipped?: 'busy' | 'closed' | 'lease-busy' | 'no-schedule';
  delivered: number;
  failed: number;
  /** Complete windows still due after this tick. */
  backlog: number;
  /** Windows due by the clock but waiting for rows still on their way in (see ScheduleOptions.heldSince). */
  held?: number;
  /** Since when those rows may be arriving (epoch ms), when `held` > 0. */
  heldSince?: number;
}

export interface ScheduleRunnerOptions extends DeliveryContext {
  schedule: ScheduleOptions;
  bookmark: BookmarkStore | undefined;
  /** Lease owner id of this instance. */
  instanceId: string;
}

export class ScheduleRunner {
  private readonly opts: ScheduleRunnerOptions;
  private readonly bookmark: BookmarkStore;
  private readonly plan: SchedulePlanOptions & { leaseTtlMs: number };
  private rowEnsured = false;

  /** Validates the schedule now rather than on the first tick. */
  constructor(options: ScheduleRunnerOptions) {
    this.opts = options;
    const s = options.schedule;
    this.plan = {
      intervalMs: s.intervalMs,
      settleMs: s.settleMs ?? DEFAULT_SETTLE_MS,
      maxWindowsPerTick: s.maxWindowsPerTick ?? DEFAULT_MAX_WINDOWS_PER_TICK,
      ...(s.initialStart !== undefined ? { initialStart: s.initialStart } : {}),
      leaseTtlMs: s.leaseTtlMs ?? Math.max(2 * s.intervalMs, 300_000),
    };
    dueWindows(null, 0, this.plan);
    if (!options.bookmark) throw new ConnectorError('INVALID_OPTION', 'schedule mode needs a bookmark store');
    this.bookmark = options.bookmark;
  }

  /** One schedule step, counted into `report`. Rejects on a bookmark store failure (the engine reports it). */
  async run(now: number, report: TickReport): Promise<TickReport> {
    const { bookmark } = this;
    const { delivery, outbox } = this.opts;
    if (!this.rowEnsured) {
      await bookmark.ensure(now);
      this.rowEnsured = true;
    }
    if (!(await this.holdLease(now))) return { ...report, skipped: 'lease-busy' };
    // Windows stored by an earlier tick or run come first, in order.
    for (const unit of outbox.pendingUnits()) {
      if (unit.manifest.origin !== 'schedule' || delivery.isDelivering(unit.manifest.key)) continue;
      if (!(await this.finishWindow(unit, report))) return this.withBacklog(report, now);
    }
    const state = await bookmark.read();
    let position = state?.windowEnd ?? (await this.pinFirstWindow(now));
    for (const window of dueWindows(position, now, this.plan, this.heldSince(now))) {
      if (delivery.stopped) break;
      if (outbox.isFull()) {
        this.opts.emit({ type: 'backpressure', batches: outbox.batchCount, bytes: outbox.byteCount });
        break;
      }
      if (!(await this.holdLease(this.opts.clock()))) break;
      const unit = await delivery.fetchIntoOutbox(
        'schedule',
        window,
        window,
        `s-${window.start}-${window.end}`,
        this.opts.sendEmptyWindows,
        0,
      );
      if (!unit) {
        report.failed += 1;
        break;
      }
      if (!(await this.finishWindow(unit, report, position))) break;
      position = window.end;
    }
    return this.withBacklog(report, now);
  }

  /** Gives the lease up (on close) so another instance takes over at once. */
  async releaseLease(): Promise<void> {
    await this.bookmark.releaseLease(this.opts.instanceId).catch(() => undefined);
  }

  /** Takes or renews the lease; when another instance holds it, says who and until when. */
  private async holdLease(now: number): Promise<boolean> {
    if (await this.bookmark.acquireLease(this.opts.instanceId, now, this.plan.leaseTtlMs)) return true;
    const state = await this.bookmark.read();
    this.opts.emit({ type: 'lease-busy', owner: state?.leaseOwner ?? null, until: state?.leaseUntil ?? null });
    return false;
  }

  /**
   * Without a bookmark (the first run), records where the schedule starts: the last complete
   * window now, or the configured initial start. Otherwise, while windows wait (rows still
   * arriving, a failing receiver), the start would move on with the clock and skip them.
   */
  private async pinFirstWindow(now: number): Promise<number | null> {
    const start = firstWindowStart(now, this.plan);
    if (await this.bookmark.advance(this.opts.instanceId, null, start, now)) return start;
    return (await this.bookmark.read())?.windowEnd ?? null;
  }

  private async withBacklog(report: TickReport, now: number): Promise<TickReport> {
    const state = await this.bookmark.read();
    const position = state?.windowEnd ?? null;
    const heldSince = this.heldSince(now);
    report.backlog = backlogSize(position, now, this.plan, heldSince);
    const held = heldSince === null ? 0 : backlogSize(position, now, this.plan) - report.backlog;
    if (held > 0) {
      report.held = held;
      report.heldSince = heldSince as number;
    }
    return report;
  }

  /** See ScheduleOptions.heldSince; a throwing provider holds nothing back (it must not stop the schedule). */
  private heldSince(now: number): number | null {
    try {
      const since = this.opts.schedule.heldSince?.(now) ?? null;
      return since !== null && Number.isFinite(since) ? since : null;
    } catch (err) {
      this.opts.emit({ type: 'error', reason: `checking for rows still arriving failed: ${errorText(err)}` });
      return null;
    }
  }

  /** Delivers a stored schedule window and advances the bookmark past it. False: stop this tick. */
  private async finishWindow(unit: OutboxUnit, report: TickReport, expected?: number | null): Promise<boolean> {
    const { manifest } = unit;
    const result = await this.opts.delivery.deliver(unit);
    if (!result.ok) {
      report.failed += 1;
      this.opts.delivery.reportFailure(manifest.origin, manifest.envelope, manifest.fetch, result);
      return false;
    }
    const current = expected !== undefined ? expected : ((await this.bookmark.read())?.windowEnd ?? null);
    const advanced = await this.advanceBookmark(manifest.fetch, current);
    await this.opts.outbox.completeUnit(manifest.key);
    if (!advanced) return false;
    report.delivered += 1;
    this.opts.emit({
      type: 'window-delivered',
      origin: 'schedule',
      window: manifest.envelope,
      fetched: manifest.fetch,
      batches: manifest.batchCount,
      readings: manifest.readingCount,
    });
    return true;
  }

  private async advanceBookmark(window: TimeWindow, current: number | null): Promise<boolean> {
    // A bookmark already at or past this window: someone (a previous run) recorded it; fine.
    if (current !== null && current >= window.end) return true;
    // The window must continue the bookmark exactly (null: the very first window).
    if (
      (current === null || current === window.start) &&
      (await this.bookmark.advance(this.opts.instanceId, current, window.end, this.opts.clock()))
    )
      return true;
    const state = await this.bookmark.read();
    if (state?.windowEnd != null && state.windowEnd >= window.end) return true;
    this.opts.emit({ type: 'bookmark-conflict', window, bookmark: state?.windowEnd ?? null });
    return false;
  }
}
