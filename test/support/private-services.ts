/**
 * Private, throwaway service instances for tests that must configure the server itself (TLS,
 * authentication) or stop and restart it (soak/fault suites), without touching the shared
 * MariaDB and mosquitto every other suite uses:
 *  - `makeTestCertificates()`: a throwaway CA and a server certificate for 127.0.0.1/localhost
 *    (plus a second, unrelated CA, to test that an untrusted server is refused);
 *  - `startPrivateMosquitto()`: mosquitto on a free port, optionally TLS and password-protected,
 *    with persistence, so `restart()` keeps sessions and queued messages;
 *  - `startPrivateMariadb()`: a second mariadbd with its own data directory, socket and port,
 *    optionally TLS; `restart()` keeps the data;
 *  - `startPrivatePostgres()`: a second PostgreSQL server (Debian's initdb/postgres, run as the
 *    `postgres` user, which PostgreSQL requires), optionally TLS; `restart()` keeps the data.
 * Everything lives in one temp dir per instance; `stop()` ends the process (by its pid) and removes it.
 * The tools are Debian's: openssl, mosquitto, mosquitto_passwd, mariadb-install-db, mariadbd.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './node-red';
import { portOpen } from './services';
import { makeTempDir, removeTempDir } from './tmp';

const run = promisify(execFile);

/** Which of the needed programs are missing (empty = all there). */
export async function missingPrograms(programs: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const program of programs) {
    try {
      await run('sh', ['-c', `command -v ${program}`]);
    } catch {
      missing.push(program);
    }
  }
  return missing;
}

export interface TestCertificates {
  dir: string;
  /** PEM text of the CA that signed the server certificate. */
  ca: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** PEM text of a CA that signed nothing here: trusting only it must make verification fail. */
  otherCa: string;
  remove(): void;
}

/** A CA and a server certificate (CN=localhost, SAN localhost + 127.0.0.1), valid for two days. */
export async function makeTestCertificates(dir = makeTempDir('iotp-certs-')): Promise<TestCertificates> {
  const file = (name: string): string => join(dir, name);
  const openssl = (args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  const newCa = (name: string, cn: string) =>
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.crt`),
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    ]);
  await Promise.all([newCa('ca', 'iotp-test-ca'), newCa('other-ca', 'iotp-unrelated-ca')]);
  await openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await openssl([
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
  ]);
  return {
    dir,
    ca: readFileSync(file('ca.crt'), 'utf8'),
    caFile: file('ca.crt'),
    certFile: file('server.crt'),
    keyFile: file('server.key'),
    otherCa: readFileSync(file('other-ca.crt'), 'utf8'),
    remove: () => removeTempDir(dir),
  };
}

/** A child process that is ours: its output kept for diagnostics, ended by its pid only. */
class Daemon {
  private child: ChildProcess | undefined;
  private log = '';

  constructor(
    private readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly host: string,
    private readonly port: number,
    /** The signal of a clean stop (PostgreSQL: SIGINT, its "fast" shutdown; SIGTERM waits for every client to leave). */
    private readonly stopSignal: NodeJS.Signals = 'SIGTERM',
  ) {}

  output(): string {
    return this.log;
  }

  async start(timeoutMs = 20_000): Promise<void> {
    if (this.child) return;
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + timeoutMs;
    while (!(await portOpen(this.host, this.port, 500))) {
      if (exited) throw new Error(`${this.name} ${exited} before listening on ${this.port}:\n${this.log}`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${this.name} did not listen on ${this.port} within ${timeoutMs} ms:\n${this.log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM (a clean shutdown: both servers save their state), SIGKILL after timeoutMs. */
  async stop(timeoutMs = 20_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = undefined;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(this.stopSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
  }

  /** SIGKILL: a crash. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }
}

export interface PrivateService {
  host: string;
  port: number;
  dir: string;
  /** What the server printed (the last 20 kB). */
  output(): string;
  /** Stops cleanly and starts again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops (SIGTERM) without removing the data; `start()` brings it back. */
  pause(): Promise<void>;
  start(): Promise<void>;
  /** SIGKILL, data kept; `start()` brings it back. */
  kill(): Promise<void>;
  /** Stops and removes the data directory. */
  stop(): Promise<void>;
}

export interface PrivateMosquittoOptions {
  /** TLS listener with these certificates (otherwise plain TCP). */
  tls?: TestCertificates;
  /** Users allowed to connect; set = anonymous access refused. */
  users?: Record<string, string>;
  /** mosquitto.conf lines appended verbatim (e.g. `max_queued_messages 100000`). */
  extraConfig?: string[];
}

export interface PrivateMosquitto extends PrivateService {
  /** `mqtt://127.0.0.1:port` or `mqtts://localhost:port`. */
  url: string;
}

export async function startPrivateMosquitto(options: PrivateMosquittoOptions = {}): Promise<PrivateMosquitto> {
  const dir = makeTempDir('iotp-mosquitto-');
  const host = '127.0.0.1';
  const port = await freePort();
  const lines = [
    // Running as root, mosquitto would switch to the `mosquitto` user, who cannot read this temp dir.
    'user root',
    'persistence true',
    `persistence_location ${dir}/`,
    'autosave_interval 1',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    `listener ${port} ${host}`,
  ];
  if (options.tls) lines.push(`cafile ${options.tls.caFile}`, `certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`);
  if (options.users && Object.keys(options.users).length > 0) {
    const passwordFile = join(dir, 'passwd');
    let first = true;
    for (const [user, password] of Object.entries(options.users)) {
      await run('mosquitto_passwd', [...(first ? ['-c'] : []), '-b', passwordFile, user, password]);
      first = false;
    }
    lines.push('allow_anonymous false', `password_file ${passwordFile}`);
  } else {
    lines.push('allow_anonymous true');
  }
  lines.push(...(options.extraConfig ?? []));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  const daemon = new Daemon('mosquitto', 'mosquitto', ['-c', conf], host, port);
  await daemon.start();
  return {
    host,
    port,
    dir,
    url: options.tls ? `mqtts://localhost:${port}` : `mqtt://${host}:${port}`,
    output: () => daemon.output(),
    restart: async () => {
      await daemon.stop();
      await daemon.start();
    },
    pause: () => daemon.stop(),
    start: () => daemon.start(),
    kill: () => daemon.kill(),
    stop: async () => {
      await daemon.stop();
      removeTempDir(dir);
    },
  };
}

export interface PrivateMariadbOptions {
  /** Serve TLS with these certificates (clients may still connect without TLS unless a user REQUIREs it). */
  tls?: TestCertificates;
  /** mariadbd options appended verbatim (e.g. `--max-connections=50`). */
  extraArgs?: string[];
}

export interface PrivateMariadb extends PrivateService {
  /** Runs SQL as root over the private socket (no TLS, no password); returns the rows. */
  admin(sql: string): Promise<string>;
  /** Unix socket path (root@localhost connects here without a password). */
  socket: string;
}

/**
 * A second MariaDB server (root@127.0.0.1 with an empty password, like the shared one). The data
 * directory is made by mariadb-install-db (about 3 s, ~110 MB); small buffers keep it light.
 */
export async function startPrivateMariadb(options: PrivateMariadbOptions = {}): Promise<PrivateMariadb> {
  const dir = makeTempDir('iotp-mariadb-');
  const host = '127.0.0.1';
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const installer = existsSync('/usr/bin/mariadb-install-db') ? 'mariadb-install-db' : 'mysql_install_db';
  await run(
    installer,
    ['--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--user=root', '--skip-test-db'],
    {
      maxBuffer: 4 * 1024 * 1024,
    },
  );
  const server = existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : '/usr/sbin/mysqld';
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    `--bind-address=${host}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    '--user=root',
    '--skip-name-resolve',
    '--performance-schema=off',
    '--innodb-buffer-pool-size=32M',
  ];
  if (options.tls) args.push(`--ssl-ca=${options.tls.caFile}`, `--ssl-cert=${options.tls.certFile}`, `--ssl-key=${options.tls.keyFile}`);
  args.push(...(options.extraArgs ?? []));
  const daemon = new Daemon('mariadbd', server, args, host, port);
  await daemon.start(60_000);
  return {
    host,
    port,
    dir,
    socket,
    output: () => daemon.output(),
    admin: async (sql: string) => (await run('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '--batch', '-e', sql])).stdout,
    restart: async () => {
      await daemon.stop(60_000);
      await daemon.start(60_000);
    },
    pause: () => daemon.stop(60_000),
    start: () => daemon.start(60_000),
    kill: () => daemon.kill(),
    stop: async () => {
      await daemon.stop(60_000);
      removeTempDir(dir);
    },
  };
}

export interface PrivatePostgresOptions {
  /** Serve TLS (ssl = on) with these certificates. */
  tls?: TestCertificates;
  /** With `tls`: refuse TCP connections that do not use it (pg_hba `hostnossl ... reject`). */
  requireTls?: boolean;
  /** Addresses to listen on (default 127.0.0.1); the first is the one `host` reports. */
  listen?: string[];
}

export interface PrivatePostgres extends PrivateService {
  /** Superuser `postgres`, trust authentication over TCP, database `postgres`. */
  user: string;
}

/** Debian's PostgreSQL server programs (the newest version installed). */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined;
}

/** Whether startPrivatePostgres() can run here: Debian's server programs and the `postgres` user. */
export async function privatePostgresAvailable(): Promise<string | null> {
  if (!postgresBin()) return 'the PostgreSQL server programs (/usr/lib/postgresql/<version>/bin) are not installed';
  const missing = await missingPrograms(['setpriv']);
  if (missing.length > 0) return `${missing.join(', ')} is missing`;
  try {
    await run('id', ['-u', 'postgres']);
  } catch {
    return 'there is no `postgres` user to run the server as';
  }
  return null;
}

/**
 * A second PostgreSQL server with its own data directory, socket directory and port. PostgreSQL
 * refuses to run as root, so initdb and the server run as the `postgres` user (setpriv, no
 * intermediate process: a SIGKILL reaches the server itself); the temp dir is handed to that user.
 * fsync is off: a test server needs no durability across a power cut, and it keeps startup fast.
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL server programs not found under /usr/lib/postgresql');
  const { stdout } = await run('id', ['-u', 'postgres']);
  const { stdout: gidText } = await run('id', ['-g', 'postgres']);
  const [uid, gid] = [Number(stdout.trim()), Number(gidText.trim())];
  const dir = makeTempDir('iotp-postgres-');
  chownSync(dir, uid, gid);
  const dataDir = join(dir, 'data');
  const asPostgres = (program: string, args: string[]): [string, string[]] => [
    'setpriv',
    ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', '--', join(bin, program), ...args],
  ];
  const [initCommand, initArgs] = asPostgres('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--no-sync',
    '--locale=C',
  ]);
  await run(initCommand, initArgs, { maxBuffer: 4 * 1024 * 1024 });
  const listen = options.listen ?? ['127.0.0.1'];
  const host = listen[0];
  const port = await freePort();
  const settings = [
    '-c',
    'fsync=off',
    '-c',
    'shared_buffers=16MB',
    '-c',
    'max_connections=60',
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    `listen_addresses=${listen.join(',')}`,
  ];
  if (options.requireTls) {
    const hba = join(dataDir, 'pg_hba.conf');
    writeFileSync(hba, 'local all all trust\nhostssl all all 127.0.0.0/8 trust\nhostnossl all all 127.0.0.0/8 reject\n');
    chownSync(hba, uid, gid);
  }
  if (options.tls) {
    // The server reads its key only if the file is its own and private.
    for (const [from, to] of [
      [options.tls.certFile, 'server.crt'],
      [options.tls.keyFile, 'server.key'],
      [options.tls.caFile, 'ca.crt'],
    ] as const) {
      const target = join(dataDir, to);
      copyFileSync(from, target);
      chownSync(target, uid, gid);
      chmodSync(target, 0o600);
    }
    settings.push('-c', 'ssl=on', '-c', 'ssl_cert_file=server.crt', '-c', 'ssl_key_file=server.key', '-c', 'ssl_ca_file=ca.crt');
  }
  const [serverCommand, serverArgs] = asPostgres('postgres', ['-D', dataDir, '-p', String(port), ...settings]);
  const daemon = new Daemon('postgres', serverCommand, serverArgs, host, port, 'SIGINT');
  // The port opens before the server takes queries ("the database system is starting up"): ask
  // over the socket (no TLS rules there) until it answers.
  const ready = async (): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await run(join(bin, 'pg_isready'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-q']);
        return;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`postgres did not accept queries within 60 s: ${(err as Error).message}\n${daemon.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const start = async (): Promise<void> => {
    await daemon.start(60_000);
    await ready();
  };
  await start();
  return {
    host,
    port,
    dir,
    user: 'postgres',
    output: () => daemon.output(),
    restart: async () => {
      await daemon.stop(60_000);
      await start();
    },
    pause: () => daemon.stop(60_000),
    start,
    kill: () => daemon.kill(),
    stop: async () => {
      await daemon.stop(60_000);
      removeTempDir(dir);
    },
  };
}
