/**
 * An in-memory stand-in for lib/db's Database, for fault injection in the writer's unit tests:
 * it understands the writer's multi-row INSERTs (columns, row count, conflict clause), keeps
 * committed rows in order, and fails on demand the way the real implementations classify errors.
 * It also keeps the writer's commit markers (iotp_commit_markers) apart from the rows, with the
 * table's primary key, and can lose the answer of a commit that happened (`commitThenCut`).
 */
import type {
  Database,
  DbErrorKind,
  Dialect,
  QueryResult,
  SelectResult,
  SqlExecutor,
  SqlParams,
  SqlStatement,
  SqlValue,
} from '../../../lib/db/types';

export type Row = Record<string, SqlValue>;

export function dbError(kind: DbErrorKind, message: string, code?: string): Error {
  return Object.assign(new Error(message), { kind, code });
}

export interface FakeOptions {
  dialect?: Dialect;
  /** Columns of a unique key: duplicates fail (mode error), are skipped (ignore) or overwrite (upsert). */
  uniqueKey?: string[];
  /** Returns a reason when the database must refuse this row for data reasons. */
  badRow?: (row: Row) => string | null;
  /** Delay of every statement (default: next macrotask). */
  latencyMs?: number;
}

export class FakeDatabase implements Database {
  readonly dialect: Dialect;
  readonly description = 'fake://memory';
  /** Committed rows, in commit order. */
  readonly rows: Row[] = [];
  /** Rows per successful INSERT statement. */
  readonly statements: number[] = [];
  /** Every attempted statement of rows (including failed ones; commit markers apart). */
  attempts = 0;
  transactions = 0;
  down = false;
  /** Statements hang forever (a stuck server). */
  hang = false;
  /** Errors the next statements throw, one each. */
  readonly failNext: DbErrorKind[] = [];
  /** The next this-many atomic() calls commit, then fail with a connection error (the answer lost). */
  commitThenCut = 0;
  /** With commitThenCut: the database also stays unreachable afterwards (until `down` is cleared). */
  downAfterCut = false;
  /** Committed commit markers (hex tokens) and their claims (the writer's own, after a cut). */
  readonly markers = new Set<string>();
  readonly claimRows = new Set<string>();
  /** The next this-many claims commit, then fail with a connection error. */
  claimThenCut = 0;
  /** Marker statements run: claims (autocommit INSERTs) and prunes. */
  claims = 0;
  prunes = 0;
  /** Markers the table refuses to exist (no CREATE privilege and no table). */
  markersForbidden = false;
  private readonly options: FakeOptions;
  private readonly index = new Map<string, number>();
  private active = 0;
  maxConcurrent = 0;

  constructor(options: FakeOptions = {}) {
    this.options = options;
    this.dialect = options.dialect ?? 'mysql';
  }

  async query(sql: string, params?: SqlParams): Promise<QueryResult> {
    const staged: Row[] = [];
    const markers: string[] = [];
    const claim = /^INSERT INTO iotp_commit_markers \(token, is_claim\)/.test(sql);
    if (claim) this.claims++;
    const result = await this.statement(sql, params, staged, markers);
    this.apply(staged, sql);
    for (const token of markers) {
      this.markers.add(token);
      if (claim) this.claimRows.add(token);
    }
    if (claim && this.claimThenCut > 0) {
      this.claimThenCut--;
      throw dbError('connection', 'read ECONNRESET (after the claim)', 'ECONNRESET');
    }
    return result;
  }

  async atomic(statements: readonly SqlStatement[]): Promise<void> {
    await this.gate();
    this.transactions++;
    const staged: Row[] = [];
    const stagedSql: string[] = [];
    const markers: string[] = [];
    for (const { sql, values } of statements) {
      const before = staged.length;
      await this.statement(sql, values, staged, markers);
      for (let i = before; i < staged.length; i++) stagedSql.push(sql);
    }
    staged.forEach((row, i) => this.apply([row], stagedSql[i]));
    for (const token of markers) this.markers.add(token);
    if (this.commitThenCut > 0) {
      this.commitThenCut--;
      if (this.downAfterCut) this.down = true;
      throw dbError('connection', 'read ECONNRESET (after the commit)', 'ECONNRESET');
    }
  }

  async select(sql: string, params: SqlParams | undefined, maxRows: number): Promise<SelectResult> {
    const result = await this.query(sql, params);
    return { rows: result.rows.slice(0, maxRows), truncated: result.rows.length > maxRows };
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    await this.gate();
    this.transactions++;
    const staged: Row[] = [];
    const stagedSql: string[] = [];
    const markers: string[] = [];
    const tx: SqlExecutor = {
      dialect: this.dialect,
      query: async (sql, params) => {
        const before = staged.length;
        const result = await this.statement(sql, params, staged, markers);
        for (let i = before; i < staged.length; i++) stagedSql.push(sql);
        return result;
      },
    };
    const value = await work(tx);
    staged.forEach((row, i) => this.apply([row], stagedSql[i]));
    for (const token of markers) this.markers.add(token);
    return value;
  }

  withLock<T>(_name: string, _timeoutMs: number, work: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return work(this);
  }

  async ping(): Promise<void> {
    await this.gate();
  }

  async close(): Promise<void> {
    this.down = true;
  }

  /** Committed values of one column, in order. */
  column(name: string): SqlValue[] {
    return this.rows.map((row) => row[name]);
  }

  private async gate(): Promise<void> {
    if (this.hang) await new Promise(() => undefined);
    await new Promise((resolve) => (this.options.latencyMs ? setTimeout(resolve, this.options.latencyMs) : setImmediate(resolve)));
    if (this.hang) await new Promise(() => undefined);
    if (this.down) throw dbError('connection', 'connect ECONNREFUSED 127.0.0.1:3306', 'ECONNREFUSED');
  }

  private async statement(sql: string, params: SqlParams | undefined, staged: Row[], markers: string[]): Promise<QueryResult> {
    if (/iotp_commit_markers/.test(sql)) {
      // Not counted in `attempts` nor hit by `failNext`: those describe the rows' statements.
      await this.gate();
      return this.markerStatement(sql, params, markers);
    }
    this.attempts++;
    this.active++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    try {
      await this.gate();
      const injected = this.failNext.shift();
      if (injected)
        throw dbError(
          injected,
          `injected ${injected} error`,
          injected === 'transient' ? 'ER_LOCK_DEADLOCK' : injected === 'fatal' ? 'ER_NO_SUCH_TABLE' : 'ECONNRESET',
        );
      const match = /^INSERT INTO \S+ \(([^)]*)\) VALUES /.exec(sql);
      if (!match || !Array.isArray(params)) throw dbError('fatal', `fake cannot run: ${sql.slice(0, 60)}`);
      const columns = match[1].split(', ').map((c) => c.slice(1, -1));
      const values = params as SqlValue[];
      if (values.length % columns.length !== 0) throw dbError('fatal', 'parameter count mismatch');
      const count = values.length / columns.length;
      const tuples = (sql.match(/\(\?/g) ?? []).length;
      if (tuples !== count) throw dbError('fatal', `statement has ${tuples} tuples for ${count} rows`);
      const rows: Row[] = [];
      for (let r = 0; r < count; r++) {
        const row: Row = {};
        columns.forEach((c, i) => {
          row[c] = values[r * columns.length + i];
        });
        const reason = this.options.badRow?.(row);
        if (reason) throw dbError('data', `${reason} at row ${r + 1}`, 'ER_DATA_TOO_LONG');
        rows.push(row);
      }
      const conflict = /ON DUPLICATE KEY UPDATE|ON CONFLICT/.test(sql);
      const key = this.options.uniqueKey;
      if (key && !conflict) {
        const seen = new Set<string>();
        for (const row of rows) {
          const k = JSON.stringify(key.map((c) => row[c]));
          if (this.index.has(k) || seen.has(k) || staged.some((s) => JSON.stringify(key.map((c) => s[c])) === k)) {
            throw dbError('data', `Duplicate entry '${k}' for key`, 'ER_DUP_ENTRY');
          }
          seen.add(k);
        }
      }
      staged.push(...rows);
      this.statements.push(count);
      return { rows: [], affectedRows: count };
    } finally {
      this.active--;
    }
  }

  private markerStatement(sql: string, params: SqlParams | undefined, markers: string[]): QueryResult {
    if (this.markersForbidden) throw dbError('fatal', 'CREATE command denied to user', 'ER_TABLEACCESS_DENIED_ERROR');
    const token = Array.isArray(params) && Buffer.isBuffer(params[0]) ? (params[0] as Buffer).toString('hex') : undefined;
    if (sql.startsWith('INSERT INTO iotp_commit_markers')) {
      if (token === undefined) throw dbError('fatal', 'a marker without a token');
      if (this.markers.has(token) || markers.includes(token))
        throw dbError('data', `Duplicate entry '${token}' for key 'PRIMARY'`, 'ER_DUP_ENTRY');
      markers.push(token);
      return { rows: [], affectedRows: 1 };
    }
    if (sql.startsWith('SELECT is_claim FROM iotp_commit_markers')) {
      if (token === undefined || !this.markers.has(token)) return { rows: [], affectedRows: 0 };
      return { rows: [{ is_claim: this.claimRows.has(token) ? 1 : 0 }], affectedRows: 0 };
    }
    if (sql.startsWith('DELETE FROM iotp_commit_markers')) {
      this.prunes++;
      if (token === undefined) throw dbError('fatal', 'a prune without a floor');
      let deleted = 0;
      for (const marker of [...this.markers].sort()) {
        if (marker >= token || deleted === Number(/LIMIT (\d+)/.exec(sql)?.[1])) break;
        this.markers.delete(marker);
        deleted++;
      }
      return { rows: [], affectedRows: deleted };
    }
    return { rows: [], affectedRows: 0 }; // CREATE TABLE IF NOT EXISTS, the probe SELECT
  }

  private apply(rows: Row[], sql: string): void {
    const key = this.options.uniqueKey;
    const upsert = /DO UPDATE|= VALUES\(/.test(sql);
    for (const row of rows) {
      if (!key) {
        this.rows.push(row);
        continue;
      }
      const k = JSON.stringify(key.map((c) => row[c]));
      const at = this.index.get(k);
      if (at === undefined) {
        this.index.set(k, this.rows.length);
        this.rows.push(row);
      } else if (upsert) {
        this.rows[at] = row;
      }
    }
  }
}
