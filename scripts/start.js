#!/usr/bin/env node
/**
 * `npm start`: the product on its embedded defaults.
 *
 * - builds the package when dist/ is missing or older than the sources (`npm install` does not);
 * - reads `.env` from the working directory (variables already set in the environment win);
 * - MQTT: MQTT_URL, or the original pipelines' MQTT_HOST/BROKER...; when none is set, an embedded
 *   MQTT broker (aedes) listens on 127.0.0.1:${MQTT_PORT:-1883}, unless something already
 *   listens there, which is then used;
 * - installs this package into the Node-RED user directory (a symlink, like `npm install <path>`);
 * - settings.js deploys every flow in flows/ on first start (each on its own tab); later edits
 *   made in the editor survive restarts, `npm start -- --reset-flows` restores the shipped flows;
 * - runs Node-RED (the dev dependency) with settings.js, which resolves the remaining defaults
 *   (DATABASE_URL falls back to a SQLite file in the user directory).
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { parseEnv } = require('node:util');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const resetFlows = args.includes('--reset-flows');

function log(message) {
  console.log(`[iot-pipelines] ${message}`);
}

function die(message) {
  console.error(`[iot-pipelines] ${message}`);
  process.exit(1);
}

/**
 * The checks settings.js makes in Node-RED's process, made here first: a bad value stops
 * `npm start` with one line before anything starts (the embedded broker included) or is written.
 */
function checkConfiguration(userDir) {
  const directories = [['NODE_RED_USER_DIR', userDir]];
  if (process.env.IOTP_JOURNAL_DIR) directories.push(['IOTP_JOURNAL_DIR', path.resolve(process.env.IOTP_JOURNAL_DIR)]);
  for (const [variable, dir] of directories) {
    let stat;
    try {
      stat = fs.statSync(dir);
    } catch {
      continue; // created on first use
    }
    if (!stat.isDirectory()) die(`configuration error: ${variable} must be a directory; ${dir} is a file`);
  }
  const { resolveRuntimeEnv } = require(path.join(root, 'dist', 'lib', 'runtime-env.js'));
  try {
    resolveRuntimeEnv(process.env, { userDir });
  } catch (err) {
    if (err && err.code === 'RUNTIME_CONFIG_INVALID') die(`configuration error: ${err.message}`);
    throw err;
  }
}

function loadDotEnv() {
  const file = path.resolve('.env');
  if (!fs.existsSync(file)) return;
  let parsed;
  try {
    parsed = parseEnv(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    die(`.env could not be read: ${err.message}`);
  }
  let count = 0;
  for (const [key, value] of Object.entries(parsed)) {
    if (process.env[key] === undefined) {
      process.env[key] = value;
      count += 1;
    }
  }
  log(`read ${count} setting(s) from ${file}`);
}

function portInUse(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function ensureBroker() {
  const env = process.env;
  if (env.MQTT_URL || env.MQTT_HOST || env.BROKER) {
    log(`MQTT: using the configured broker (${env.MQTT_URL ? 'MQTT_URL' : env.MQTT_HOST ? 'MQTT_HOST' : 'BROKER'})`);
    return undefined;
  }
  // Checked by checkConfiguration.
  const port = Number(env.MQTT_PORT || 1883);
  env.MQTT_URL = `mqtt://127.0.0.1:${port}`;
  if (await portInUse('127.0.0.1', port)) {
    log(`MQTT: a broker already listens on 127.0.0.1:${port}; using it`);
    return undefined;
  }
  let Aedes;
  try {
    Aedes = require('aedes').Aedes;
  } catch {
    die('MQTT: no MQTT_URL set and the embedded broker (aedes, a dev dependency) is not installed; run `npm install` or set MQTT_URL');
  }
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  }).catch((err) => die(`MQTT: the embedded broker cannot listen on 127.0.0.1:${port}: ${err.message}`));
  log(`MQTT: embedded broker (aedes) listening on 127.0.0.1:${port}`);
  return { broker, server };
}

function prepareUserDir(userDir) {
  fs.mkdirSync(path.join(userDir, 'node_modules'), { recursive: true });
  const link = path.join(userDir, 'node_modules', 'node-red-contrib-iot-pipelines');
  let linked = false;
  try {
    linked = fs.realpathSync(link) === fs.realpathSync(root);
  } catch {
    linked = false;
  }
  if (!linked) {
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(root, link, 'dir');
  }
  const pkgFile = path.join(userDir, 'package.json');
  if (!fs.existsSync(pkgFile)) fs.writeFileSync(pkgFile, `${JSON.stringify({ name: 'node-red-user-dir', private: true }, null, 2)}\n`);

  // settings.js deploys the shipped flows on first start (and on --reset-flows).
  process.env.IOTP_FLOWS_DIR = path.join(root, 'flows');
  if (resetFlows) process.env.IOTP_RESET_FLOWS = 'true';
}

/** Dashboard 2.0 is a dev dependency: Node-RED loads it from this package's node_modules, as Node-RED itself. */
function logDashboard() {
  let version;
  try {
    version = require(require.resolve('@flowfuse/node-red-dashboard/package.json', { paths: [root] })).version;
  } catch {
    log('dashboards: @flowfuse/node-red-dashboard is not installed (run `npm install`); the dashboard pages are not deployed');
    return;
  }
  const host = !process.env.HOST || process.env.HOST === '0.0.0.0' || process.env.HOST === '::' ? '127.0.0.1' : process.env.HOST;
  log(`dashboards (Dashboard 2.0 ${version}): http://${host}:${process.env.PORT || 1880}/dashboard`);
}

async function main() {
  loadDotEnv();
  const userDir = path.resolve(process.env.NODE_RED_USER_DIR || path.join(root, '.node-red'));
  process.env.NODE_RED_USER_DIR = userDir;
  // `npm install` builds nothing (the package has no `prepare` script): build on first start and after source changes.
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--if-stale'], { stdio: 'inherit' });
  if (build.status !== 0) die('the package could not be built (see above); run `npm install` first if dependencies are missing');
  checkConfiguration(userDir);
  const embedded = await ensureBroker();
  prepareUserDir(userDir);

  let redJs;
  try {
    redJs = require.resolve('node-red/red.js', { paths: [root] });
  } catch {
    die('node-red is not installed; run `npm install` first');
  }
  logDashboard();
  const passThrough = args.filter((a) => a !== '--reset-flows');
  const child = spawn(process.execPath, [redJs, '--settings', path.join(root, 'settings.js'), '--userDir', userDir, ...passThrough], {
    stdio: 'inherit',
    env: process.env,
  });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => {
    if (embedded) {
      embedded.server.close();
      embedded.broker.close();
    }
    process.exit(code ?? (signal ? 1 : 0));
  });
}

main().catch((err) => die(err && err.message ? err.message : String(err)));
