/**
 * Database on a pg (node-postgres, plain JavaScript) pool, for PostgreSQL 12+.
 *
 * Statements use the extended protocol: `?`/`:name` are numbered `$1...` (params.ts) and values
 * are bound, never spliced into SQL text. A `COPY ... FROM STDIN` statement takes its data as its
 * one parameter, in COPY's text format (values.ts copyText); that is how InsertPlan sends the
 * writer's batches (lib/db/insert.ts), streamed with pg-copy-streams.
 *
 * Every session runs in UTC; `timestamp` values are read as UTC, `bigint` and `numeric` as
 * numbers (bigints beyond 2^53 as text), like the MySQL dialect reads them.
 *
 * Failure handling: every driver error is re-thrown as a classified DatabaseError (SQLSTATE in
 * `code` and `sqlState`); a connection that failed is destroyed instead of returned to the pool;
 * 'error' events of idle and reserved connections are caught, so a server restart never crashes
 * the process: the next statement opens a new connection.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient, PoolConfig, QueryResult as PgQueryResult } from 'pg';
import { DatabaseError, classifyError } from './errors';
import { compilePositional, compilePostgres } from './params';
import { describeConfig } from './url';
import { toPostgresValues } from './values';
import { onServerConnection, PoolLifetime, serverLock, serverTransaction } from './server-scope';
import type { Database, PostgresConfig, QueryResult, SelectResult, SqlExecutor, SqlParams, SqlStatement, SqlValue } from './types';

type PgDriver = typeof import('pg');
type CursorClass = typeof import('pg-cursor');
type CopyStreams = typeof import('pg-copy-streams');

/** Callers waiting for a pooled connection beyond this get a transient error instead of queueing without bound. */
export const DEFAULT_POSTGRES_QUEUE_LIMIT = 1000;
/** Idle pooled connections are closed after this, so a quiet flow does not pin server connections. */
const IDLE_TIMEOUT_MS = 60_000;
const APPLICATION_NAME = 'node-red-iot-pipelines';
/** `COPY <table> (<columns>) FROM STDIN`, the form whose data travels as the statement's one parameter. */
const COPY_FROM_STDIN = /^\s*COPY\s[\s\S]*\sFROM\s+STDIN\s*;?\s*$/i;

export interface PostgresOpenOptions {
  /** Errors no caller is waiting for (an idle connection dropped by the server); default: ignored. */
  onBackgroundError?: (err: DatabaseError) => void;
  /** Overrides DEFAULT_POSTGRES_QUEUE_LIMIT. */
  queueLimit?: number;
}

interface Drivers {
  pg: PgDriver;
  Cursor: CursorClass;
  copyFrom: CopyStreams['from'];
}

let drivers: Drivers | undefined;
function loadDrivers(): Drivers {
  // Required lazily so MySQL/SQLite-only use and unit tests never load pg.
  /* eslint-disable @typescript-eslint/no-require-imports */
  drivers ??= {
    pg: require('pg') as PgDriver,
    Cursor: require('pg-cursor') as CursorClass,
    copyFrom: (require('pg-copy-streams') as CopyStreams).from,
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
  return drivers;
}

type TypeParser = (text: string) => unknown;
interface TypeParsers {
  getTypeParser(oid: number, format?: string): TypeParser;
}

const OID = { int8: 20, numeric: 1700, timestamp: 1114, date: 1082 } as const;

/** pg's parsers, with the four types above read the way the MySQL dialect reads their counterparts. */
function typeParsers(pg: PgDriver): TypeParsers {
  const own: Record<number, TypeParser> = {
    [OID.int8]: (text) => {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    },
    [OID.numeric]: (text) => {
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    },
    // `timestamp` (without time zone) holds UTC wall time here: the session and every value we bind are UTC.
    [OID.timestamp]: (text) => (/^\d{4}-/.test(text) ? new Date(`${text.replace(' ', 'T')}Z`) : text),
    [OID.date]: (text) => (/^\d{4}-\d\d-\d\d$/.test(text) ? new Date(`${text}T00:00:00Z`) : text),
  };
  return {
    getTypeParser(oid: number, format?: string): TypeParser {
      if ((format ?? 'text') === 'text' && own[oid]) return own[oid];
      return pg.types.getTypeParser(oid, (format ?? 'text') as 'text') as TypeParser;
    },
  };
}

/**
 * A signed 64-bit advisory lock key for `name`. Advisory locks are per database already, so
 * two databases on one server never block each other.
 */
export function postgresLockKey(name: string): string {
  return createHash('sha256').update(`iotp\u0000${name}`).digest().readBigInt64BE(0).toString();
}

function toQueryResult(result: PgQueryResult | PgQueryResult[]): QueryResult {
  // Several statements in one text (no parameters): the rows of the last, the changes of all.
  const results = Array.isArray(result) ? result : [result];
  let affectedRows = 0;
  for (const r of results) if (r.command !== 'SELECT') affectedRows += r.rowCount ?? 0;
  const last = results[results.length - 1];
  return { rows: (last?.rows ?? []) as Record<string, unknown>[], affectedRows };
}

/**
 * A value as SQL text when it cannot carry anything but itself: numbers, NULL, booleans, Dates
 * (digits and separators) and Buffers (hex digits). Text is never spliced (undefined): it is bound.
 */
function literal(value: SqlValue): string | undefined {
  if (value === null) return 'NULL';
  // Negative numbers in parentheses: `1-?` with -5 must not become the comment `1--5`.
  if (typeof value === 'number') return Number.isFinite(value) ? (value < 0 ? `(${value})` : String(value)) : undefined;
  if (typeof value === 'bigint') return value < 0n ? `(${value})` : value.toString();
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : `'${value.toISOString()}'`;
  // E'' so the backslash means the same whatever standard_conforming_strings says.
  if (Buffer.isBuffer(value)) return `E'\\\\x${value.toString('hex')}'::bytea`;
  return undefined;
}

/**
 * `statement` as one text with its values written in, when every value is a literal() and its
 * placeholders are `?`; else undefined. Lets atomic() send BEGIN and such statements (the
 * writer's commit marker) in one round trip.
 */
export function inlineStatement(statement: SqlStatement): string | undefined {
  const values = statement.values ?? [];
  if (!Array.isArray(values) || COPY_FROM_STDIN.test(statement.sql)) return undefined;
  const { pieces } = compilePositional(statement.sql, 'postgres');
  if (pieces.length - 1 !== values.length || (values.length === 0 && statement.sql.includes('$'))) return undefined;
  let text = pieces[0];
  for (let i = 0; i < values.length; i++) {
    const value = literal(values[i] as SqlValue);
    if (value === undefined) return undefined;
    text += value + pieces[i + 1];
  }
  return text;
}

function closedError(): DatabaseError {
  return new DatabaseError('The PostgreSQL database has been closed', { kind: 'connection', code: 'DB_CLOSED', dialect: 'postgres' });
}

function finishedScopeError(): DatabaseError {
  return new DatabaseError('This transaction or lock scope has already finished; its executor cannot run statements', {
    kind: 'fatal',
    code: 'DB_SCOPE_FINISHED',
    dialect: 'postgres',
  });
}

/** Statements on one reserved connection (a transaction, a lock holder, or a COPY). */
class ClientScope implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  active = true;
  /** Set when a statement failed with a connection error: the connection must not go back to the pool. */
  broken = false;

  constructor(
    readonly client: PoolClient,
    private readonly database: PostgresDatabase,
  ) {}

  query(sql: string, params?: SqlParams): Promise<QueryResult> {
    if (!this.active) return Promise.reject(finishedScopeError());
    return this.run(sql, params);
  }

  async run(sql: string, params?: SqlParams): Promise<QueryResult> {
    try {
      return await this.database.runOn(this.client, sql, params);
    } catch (err) {
      throw this.failed(err);
    }
  }

  /**
   * `lead` (statements without parameters), a COPY FROM STDIN and `tail` (e.g. COMMIT) as one
   * query text, the COPY's data streamed; the server runs what follows the COPY once it has the data.
   */
  async leadAndCopy(lead: string, copySql: string, params: readonly unknown[], tail = ''): Promise<QueryResult> {
    try {
      return await this.database.copyIn(this.client, `${lead};\n${copySql}${tail ? `;\n${tail}` : ''}`, params);
    } catch (err) {
      throw this.failed(err);
    }
  }

  private failed(err: unknown): DatabaseError {
    const classified = this.database.classify(err);
    if (classified.kind === 'connection') this.broken = true;
    return classified;
  }
}

export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  readonly description: string;
  private readonly pool: Pool;
  private readonly drivers: Drivers;
  private readonly types: TypeParsers;
  private readonly secrets: readonly string[];
  private readonly queueLimit: number;
  private readonly lifetime: PoolLifetime;

  constructor(config: PostgresConfig, options: PostgresOpenOptions = {}) {
    this.description = describeConfig(config);
    this.secrets = config.password ? [config.password] : [];
    this.lifetime = new PoolLifetime(closedError, (err) => this.classify(err), options.onBackgroundError);
    this.queueLimit = options.queueLimit ?? DEFAULT_POSTGRES_QUEUE_LIMIT;
    this.drivers = loadDrivers();
    this.types = typeParsers(this.drivers.pg);
    const poolConfig: PoolConfig = {
      host: config.host,
      port: config.port,
      user: config.user,
      password: config.password,
      database: config.database,
      max: config.poolSize,
      connectionTimeoutMillis: config.connectTimeoutMs,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: APPLICATION_NAME,
      options: '-c TimeZone=UTC',
      types: this.types as PoolConfig['types'],
      ssl: tlsOptions(config),
    };
    this.pool = new this.drivers.pg.Pool(poolConfig);
    // An idle pooled connection that the server drops emits 'error' on the pool.
    this.pool.on('error', (err) => this.lifetime.backgroundError(err));
    this.pool.on('connect', (client) => {
      // A reserved connection can fail between statements too: without a listener that would crash the process.
      client.on('error', (err) => this.lifetime.backgroundError(err));
    });
  }

  classify(err: unknown): DatabaseError {
    return classifyError(err, 'postgres', this.secrets);
  }

  /** Runs one statement on `client`; a `COPY ... FROM STDIN` streams its one parameter as the data. Throws driver errors unclassified. */
  async runOn(client: PoolClient, sql: string, params?: SqlParams): Promise<QueryResult> {
    if (COPY_FROM_STDIN.test(sql) && Array.isArray(params)) return this.copyIn(client, sql, params as readonly unknown[]);
    const { text, values } = compilePostgres(sql, params);
    const result =
      values.length === 0 && params === undefined ? await client.query(text) : await client.query(text, toPostgresValues(values));
    return toQueryResult(result as PgQueryResult | PgQueryResult[]);
  }

  /** Streams a COPY FROM STDIN (`sql` may start with other statements without parameters, which run first). */
  async copyIn(client: PoolClient, sql: string, params: readonly unknown[]): Promise<QueryResult> {
    if (params.length !== 1 || typeof params[0] !== 'string') {
      throw new DatabaseError('A COPY ... FROM STDIN statement takes exactly one value: the rows in COPY text format', {
        kind: 'fatal',
        code: 'DB_PARAM_COUNT',
        dialect: 'postgres',
      });
    }
    const data = params[0];
    const stream = client.query(this.drivers.copyFrom(sql));
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.once('finish', () => resolve());
      stream.end(data);
    });
    return { rows: [], affectedRows: Number(stream.rowCount ?? 0) };
  }

  private async reserve(): Promise<PoolClient> {
    if (this.pool.waitingCount >= this.queueLimit) {
      throw new DatabaseError(`More than ${this.queueLimit} callers are waiting for a PostgreSQL connection`, {
        kind: 'transient',
        code: 'DB_QUEUE_FULL',
        dialect: 'postgres',
      });
    }
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.classify(err);
    }
  }

  private static giveBack(client: PoolClient, reusable: boolean): void {
    try {
      // release(true) destroys the connection instead of pooling it.
      client.release(!reusable);
    } catch {
      // Released twice or into an ended pool: nothing left to do.
    }
  }

  query(sql: string, params?: SqlParams): Promise<QueryResult> {
    return this.lifetime.track(async () => {
      const client = await this.reserve();
      const scope = new ClientScope(client, this);
      try {
        return await scope.run(sql, params);
      } finally {
        PostgresDatabase.giveBack(client, !scope.broken);
      }
    });
  }

  /**
   * Reads through a cursor (a portal fetched with a row limit): at most `maxRows` + 1 rows ever
   * cross the network, whatever the statement would return.
   */
  select(sql: string, params: SqlParams | undefined, maxRows: number): Promise<SelectResult> {
    return this.lifetime.track(async () => {
      const { text, values } = compilePostgres(sql, params);
      const client = await this.reserve();
      let reusable = true;
      try {
        const cursor = client.query(new this.drivers.Cursor(text, toPostgresValues(values), { types: this.types }));
        try {
          const rows = (await cursor.read(Math.max(0, maxRows) + 1)) as Record<string, unknown>[];
          const truncated = rows.length > maxRows;
          if (truncated) rows.length = maxRows;
          await cursor.close();
          return { rows, truncated };
        } catch (err) {
          // The protocol state of a failed portal is not worth trusting: open a fresh connection next time.
          reusable = false;
          throw this.classify(err);
        }
      } finally {
        PostgresDatabase.giveBack(client, reusable);
      }
    });
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.lifetime.track(async () => {
      const client = await this.reserve();
      const scope = new ClientScope(client, this);
      const run = (sql: string) => scope.run(sql);
      return onServerConnection(
        scope,
        run,
        () => serverTransaction(scope, run, 'BEGIN', work),
        (reusable) => PostgresDatabase.giveBack(client, reusable),
      );
    });
  }

  /**
   * BEGIN, the statements and COMMIT on one connection. Leading statements whose values are all
   * literal() (the writer's commit marker: a token of hex digits) travel with BEGIN in one query
   * text, and so does a COPY FROM STDIN right after them, and COMMIT when the COPY is the last
   * statement: a writer's batch with its marker costs the round trips of a bare COPY. (A failure
   * anywhere in that text stops the server there; the open transaction is rolled back below.)
   * Everything else is bound as usual.
   */
  atomic(statements: readonly SqlStatement[]): Promise<void> {
    if (statements.length === 0) return Promise.resolve();
    return this.lifetime.track(async () => {
      const lead: string[] = ['BEGIN'];
      let first = 0;
      for (; first < statements.length; first++) {
        const text = inlineStatement(statements[first]);
        if (text === undefined) break;
        lead.push(text);
      }
      const client = await this.reserve();
      const scope = new ClientScope(client, this);
      const body = async (): Promise<void> => {
        const next = statements[first];
        if (next && COPY_FROM_STDIN.test(next.sql) && Array.isArray(next.values)) {
          const last = first === statements.length - 1;
          await scope.leadAndCopy(
            lead.join(';\n'),
            next.sql.trim().replace(/;$/, ''),
            next.values as readonly unknown[],
            last ? 'COMMIT' : '',
          );
          if (last) return;
          first++;
        } else {
          await scope.run(lead.join(';\n'));
        }
        for (let i = first; i < statements.length; i++) await scope.run(statements[i].sql, statements[i].values);
        await scope.run('COMMIT');
      };
      await onServerConnection(
        scope,
        (sql) => scope.run(sql),
        body,
        (reusable) => PostgresDatabase.giveBack(client, reusable),
      );
    });
  }

  /**
   * A session-level advisory lock (pg_advisory_lock) on a reserved connection, `work` on that same
   * connection, then pg_advisory_unlock. The server frees the lock by itself if the connection
   * dies, so a crashed holder never blocks others. The wait is bounded by lock_timeout, which is
   * reset once the lock is held so `work`'s own statements are not limited by it.
   */
  withLock<T>(name: string, timeoutMs: number, work: (executor: SqlExecutor) => Promise<T>): Promise<T> {
    return this.lifetime.track(async () => {
      const key = postgresLockKey(name);
      const client = await this.reserve();
      const scope = new ClientScope(client, this);
      const acquire = async (): Promise<void> => {
        let acquired: boolean;
        if (timeoutMs <= 0) {
          const answer = await scope.run('SELECT pg_try_advisory_lock(?::bigint) AS acquired', [key]);
          acquired = answer.rows[0]?.acquired === true;
        } else {
          await scope.run("SELECT set_config('lock_timeout', ?, false)", [`${Math.ceil(timeoutMs)}ms`]);
          try {
            await scope.run('SELECT pg_advisory_lock(?::bigint)', [key]);
            acquired = true;
          } catch (err) {
            if ((err as DatabaseError).sqlState !== '55P03') throw err;
            acquired = false;
          } finally {
            if (!scope.broken) await scope.run('RESET lock_timeout');
          }
        }
        if (!acquired) {
          throw new DatabaseError(`Timed out after ${timeoutMs} ms waiting for the database lock "${name}" (another instance holds it)`, {
            kind: 'transient',
            code: 'DB_LOCK_TIMEOUT',
            dialect: 'postgres',
          });
        }
      };
      const release = async (): Promise<void> => {
        // A transaction `work` left open (it failed half-way) must not keep the lock's connection dirty.
        await scope.run('ROLLBACK');
        await scope.run('SELECT pg_advisory_unlock(?::bigint)', [key]);
      };
      return serverLock(scope, acquire, release, work, (reusable) => PostgresDatabase.giveBack(client, reusable));
    });
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  /** Refuses new work, lets running statements, transactions and locks finish, then ends the pool. Idempotent. */
  close(): Promise<void> {
    return this.lifetime.close(() => [this.pool]);
  }
}

/**
 * pg's `ssl` option for libpq's sslmode: `require` encrypts without checking the certificate,
 * `verify-ca` checks the chain but not the host name, `verify-full` checks both. The CA comes from
 * the database node's credentials; without one the system's trusted CAs apply.
 */
export function tlsOptions(config: PostgresConfig): PoolConfig['ssl'] {
  const tls = config.tls;
  if (!tls) return false;
  const material = {
    ...(tls.ca !== undefined && { ca: tls.ca }),
    ...(tls.cert !== undefined && { cert: tls.cert }),
    ...(tls.key !== undefined && { key: tls.key }),
  };
  if (tls.mode === 'require') return { ...material, rejectUnauthorized: false };
  if (tls.mode === 'verify-ca') return { ...material, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ...material, rejectUnauthorized: true };
}
