/**
 * Node-RED settings for node-red-contrib-iot-pipelines: used by `npm start` and by the compose
 * stack's Node-RED container. Everything is driven by the environment; nothing secret is in here.
 *
 *   PORT                          editor/API port (default 1880)
 *   HOST                          listen address (default 127.0.0.1; the container sets 0.0.0.0)
 *   NODE_RED_USER_DIR             user directory (default ./.node-red)
 *   NODE_RED_CREDENTIAL_SECRET    key that encrypts flow credentials (unset: Node-RED generates one
 *                                 and keeps it in the user directory's .config.runtime.json)
 *   NODE_RED_ADMIN_USER           editor/admin user name (default admin)
 *   NODE_RED_ADMIN_PASSWORD_HASH  bcrypt hash of that user's password; unset = editor unprotected
 *                                 (a loud warning is logged). Make one with: npx node-red admin hash-pw
 *   HTTP_NODE_CORS_ORIGIN         browser origin(s), comma-separated, allowed to call the pipelines'
 *                                 HTTP endpoints (default: none). Pages of other origins get no
 *                                 CORS header, and their writes are refused (lib/origin-guard.ts)
 *   NODE_RED_LOG_LEVEL            info (default), debug, trace, warn, error
 *   IOTP_JOURNAL_DIR              where database writers keep their outage journals and MQTT ingests their receive journals
 *                                 (default <user dir>/iot-pipelines/journal)
 */
'use strict';
const path = require('node:path');

const fs = require('node:fs');

const env = process.env;

/** A bad value stops start-up with this one line (never the value of a secret), as the README says. */
function configurationError(message) {
  console.error(`[iot-pipelines] configuration error: ${message}`);
  process.exit(1);
}

/** A directory variable must name a directory, or a path one can be created at. */
function checkDirectory(variable, dir) {
  let stat;
  try {
    stat = fs.statSync(dir);
  } catch {
    return; // created on first use
  }
  if (!stat.isDirectory()) configurationError(`${variable} must be a directory; ${dir} is a file`);
}

const userDir = path.resolve(env.NODE_RED_USER_DIR || path.join(__dirname, '.node-red'));
checkDirectory('NODE_RED_USER_DIR', userDir);
if (env.IOTP_JOURNAL_DIR) checkDirectory('IOTP_JOURNAL_DIR', path.resolve(env.IOTP_JOURNAL_DIR));

/**
 * First start: deploy every shipped flow (flows/*.json here, the package's examples/ in the
 * container), each on its own tab. Afterwards the user's edits in flows.json are kept; set
 * IOTP_RESET_FLOWS=true (`npm start -- --reset-flows`) to restore the shipped flows (the
 * previous flows.json is kept as a .bak file).
 */
function seedFlows() {
  const flowFile = path.join(userDir, 'flows.json');
  const reset = /^(1|true|yes)$/i.test(env.IOTP_RESET_FLOWS || '');
  if (fs.existsSync(flowFile) && !reset) return;
  const candidates = [env.IOTP_FLOWS_DIR, path.join(__dirname, 'flows'), path.join(__dirname, 'examples')].filter(Boolean);
  const flowsDir = candidates.find((dir) => fs.existsSync(dir));
  if (!flowsDir) return;
  const nodes = [];
  const seen = new Set();
  const credentials = {};
  const dashboard = dashboardInstalled();
  const files = fs
    .readdirSync(flowsDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  let deployed = 0;
  for (const file of files) {
    const flow = JSON.parse(fs.readFileSync(path.join(flowsDir, file), 'utf8'));
    // A dashboard page without Dashboard 2.0 would hold every flow back ("waiting for missing types").
    if (!dashboard && flow.some((node) => /^ui-/.test(node.type))) {
      console.log(`[iot-pipelines] ${file} not deployed: @flowfuse/node-red-dashboard (Dashboard 2.0) is not installed`);
      continue;
    }
    deployed += 1;
    for (const node of flow) {
      // global-config is the editor's per-export module list, not part of a deployed flow.
      if (node.type === 'global-config' || seen.has(node.id)) continue;
      seen.add(node.id);
      // Shipped credentials are only ${VAR} references (the package tests check): Node-RED reads
      // credentials from flows_cred.json, not from flows.json, so they go there.
      if (node.credentials) {
        credentials[node.id] = node.credentials;
        delete node.credentials;
      }
      nodes.push(node);
    }
  }
  fs.mkdirSync(userDir, { recursive: true });
  if (fs.existsSync(flowFile)) fs.copyFileSync(flowFile, `${flowFile}.${Date.now()}.bak`);
  fs.writeFileSync(flowFile, `${JSON.stringify(nodes, null, 2)}\n`);
  // Plain references; Node-RED encrypts the file on the next deploy. An existing (encrypted) file is
  // the user's and stays as it is.
  const credFile = path.join(userDir, 'flows_cred.json');
  if (Object.keys(credentials).length > 0 && !fs.existsSync(credFile))
    fs.writeFileSync(credFile, `${JSON.stringify(credentials, null, 2)}\n`);
  console.log(`[iot-pipelines] deployed ${deployed} shipped flow(s) from ${flowsDir} to ${flowFile}`);
}

/** Dashboard 2.0 where Node-RED finds it: beside Node-RED (npm start, the image) or in the user directory. */
function dashboardInstalled() {
  for (const paths of [[__dirname], [path.join(userDir, 'node_modules')]]) {
    try {
      require.resolve('@flowfuse/node-red-dashboard/package.json', { paths });
      return true;
    } catch {
      // not there
    }
  }
  return false;
}

/** A compiled module of this package (dist/lib/<name>.js): beside settings.js, else the installed package. */
function requirePackageModule(name) {
  const candidates = [path.join(__dirname, 'dist', 'lib', `${name}.js`), `node-red-contrib-iot-pipelines/dist/lib/${name}.js`];
  for (const candidate of candidates) {
    try {
      return require(candidate);
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  return undefined;
}

/**
 * Resolves the variables the shipped flows read (DATABASE_URL, MQTT_URL, TOPIC, ...) from the
 * canonical names, the original pipelines' names (MYSQL_*, MQTT_HOST, BROKER) and the defaults.
 * A bad value stops start-up with one line naming the variable.
 */
function applyRuntimeEnv() {
  const runtimeEnv = requirePackageModule('runtime-env');
  if (!runtimeEnv) {
    console.warn('[iot-pipelines] package not found beside settings.js: environment defaults for the shipped flows not applied');
    return;
  }
  try {
    const resolved = runtimeEnv.resolveRuntimeEnv(env, { userDir });
    Object.assign(env, resolved.set);
    for (const note of resolved.notes) console.log(`[iot-pipelines] ${note}`);
  } catch (err) {
    if (err && err.code === 'RUNTIME_CONFIG_INVALID') configurationError(err.message);
    throw err;
  }
}
applyRuntimeEnv();
// After the checks: a refused start-up leaves the user directory as it was.
seedFlows();
const adminPasswordHash = env.NODE_RED_ADMIN_PASSWORD_HASH || '';
// Request bodies, on every path (flows, editor, admin API), streamed or not, of any type: 1 MiB.
// One exception: the palette manager's module upload (multipart POST /nodes), npm tarballs.
const BODY_LIMIT_BYTES = 1024 * 1024;
const MODULE_UPLOAD_LIMIT_BYTES = 64 * 1024 * 1024;
const bodyLimitFor = (req) =>
  req.method === 'POST' && /^\/nodes\/?(\?|$)/.test(req.url || '') && /^multipart\/form-data/i.test(req.headers['content-type'] || '')
    ? MODULE_UPLOAD_LIMIT_BYTES
    : BODY_LIMIT_BYTES;
const bodyLimit = requirePackageModule('body-limit');
if (bodyLimit) {
  // Counted where the server hands each request over, before express: also covers routes whose
  // bodies Node-RED captures ahead of every middleware ("do not parse body" http-in nodes).
  bodyLimit.limitServerRequests(bodyLimitFor, (server) => server.address()?.port === Number(module.exports.uiPort));
} else {
  console.warn('[iot-pipelines] package not found beside settings.js: request bodies are NOT limited');
}
const httpGuard = requirePackageModule('http-guard');
if (!httpGuard) console.warn('[iot-pipelines] package not found beside settings.js: the HTTP guard of the flow endpoints is not installed');
const originGuard = requirePackageModule('origin-guard');
if (!originGuard)
  console.warn(
    '[iot-pipelines] package not found beside settings.js: cross-origin writes to the editor, admin API and flows are NOT refused',
  );
// Validated and normalised by applyRuntimeEnv (one origin or a comma list, as browsers send them).
const corsOrigins = (env.HTTP_NODE_CORS_ORIGIN || '')
  .split(',')
  .map((origin) => origin.trim())
  .filter(Boolean);

const adminPassword = requirePackageModule('admin-password');
const adminMiddleware = [
  bodyLimit && bodyLimit.createBodyLimit(bodyLimitFor),
  originGuard && originGuard.createOriginGuard({ allowedOrigins: corsOrigins }),
  // No login configured: /auth/* gets a 404 instead of Node-RED 5's TypeError answer.
  !adminPasswordHash && adminPassword && adminPassword.createNoLoginGuard(),
].filter(Boolean);

/**
 * With the editor protected, the dashboard pages ask for the same user and password (Dashboard 2.0
 * has no login of its own; its connector page re-sends through the request API). Fails closed:
 * without the pieces to check passwords, the pages refuse everyone.
 */
function dashboardSettings() {
  if (!adminPasswordHash) return undefined;
  const auth = requirePackageModule('dashboard-auth');
  let bcrypt;
  try {
    bcrypt = require('bcryptjs'); // Node-RED's own, which checks the editor password too
  } catch {
    bcrypt = undefined;
  }
  if (!auth || !bcrypt) {
    console.warn('[iot-pipelines] the dashboard cannot check passwords (package or bcryptjs missing): its pages refuse every request');
    const refuse = (req, res) => {
      res.statusCode = 503;
      res.end('dashboard authentication unavailable\n');
    };
    return { middleware: refuse, ioMiddleware: (socket, next) => next(new Error('dashboard authentication unavailable')) };
  }
  const guard = auth.createDashboardAuth({
    user: env.NODE_RED_ADMIN_USER || 'admin',
    passwordHash: adminPasswordHash,
    verify: (password, hash) => bcrypt.compareSync(password, hash),
  });
  return { middleware: guard.middleware, ioMiddleware: guard.ioMiddleware };
}

if (!adminPasswordHash) {
  const line = '*'.repeat(78);
  console.warn(
    `\n${line}\n` +
      '* WARNING: the Node-RED editor and admin API are NOT password protected.\n' +
      '* Anyone who can reach this port can change the flows and read their settings.\n' +
      '* Set NODE_RED_ADMIN_PASSWORD_HASH (bcrypt, `npx node-red admin hash-pw`) to protect them.\n' +
      `${line}\n`,
  );
}

module.exports = {
  userDir,
  flowFile: 'flows.json',
  flowFilePretty: true,
  // Unset means Node-RED generates a key and stores it beside the flows; set it in production so
  // credentials survive a lost user directory and are not readable from a copied flows_cred.json.
  credentialSecret: env.NODE_RED_CREDENTIAL_SECRET || undefined,

  // PORT and HOST were checked by applyRuntimeEnv (a bad PORT used to leave Node-RED running without its editor).
  uiPort: Number(env.PORT || 1880),
  uiHost: env.HOST || '127.0.0.1',
  httpAdminRoot: '/',
  httpNodeRoot: '/',
  // Run in the editor's app after its wildcard CORS handler, before the editor, its body parsers
  // and the admin API; every request passes them (both roots are `/`). First the body limit
  // (lib/body-limit.ts: a declared Content-Length over it is refused before anything reads the
  // body), then the origin guard: pages of other origins may read but not write, no POST /flows
  // from a drive-by page (see lib/origin-guard.ts).
  httpAdminMiddleware: adminMiddleware.length > 0 ? adminMiddleware : undefined,
  // The pipelines' JSON APIs stay same-origin unless origins are named explicitly (a list: the
  // cors package answers each request with the one that matches its Origin).
  httpNodeCors: corsOrigins.length > 0 ? { origin: corsOrigins, methods: 'GET,POST' } : undefined,
  // The JSON and urlencoded parsers (editor and http-in) at the same limit as every other body.
  apiMaxLength: BODY_LIMIT_BYTES,
  // Not authentication: Node-RED mounts these between the editor app (same root, whose body parsers
  // and wildcard CORS header every request passes) and the flows' routes. JSON refusals instead of
  // stack pages, no editor CORS header on flow endpoints (see lib/http-guard.ts).
  httpNodeAuth: httpGuard ? httpGuard.createHttpGuard({ maxBodyBytes: BODY_LIMIT_BYTES }) : undefined,

  adminAuth: adminPasswordHash
    ? {
        type: 'credentials',
        users: [{ username: env.NODE_RED_ADMIN_USER || 'admin', password: adminPasswordHash, permissions: '*' }],
      }
    : undefined,

  // Dashboard 2.0 (the dashboard pages): behind the editor's user and password when it has one.
  dashboard: dashboardSettings(),

  // Node state (window contents, poll watermarks) survives restarts in the user directory.
  contextStorage: {
    default: { module: 'localfilesystem', config: { flushInterval: 5 } },
    memory: { module: 'memory' },
  },

  // Writers flush or journal pending rows on redeploy; give them the time they need.
  nodeCloseTimeout: 15000,

  // Settings read by this package's nodes.
  iotpJournalDir: env.IOTP_JOURNAL_DIR || path.join(userDir, 'iot-pipelines', 'journal'),

  diagnostics: { enabled: true, ui: true },
  runtimeState: { enabled: false, ui: false },
  telemetry: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: true }, modules: { allowInstall: true } },

  logging: {
    console: {
      level: env.NODE_RED_LOG_LEVEL || 'info',
      metrics: false,
      audit: false,
    },
  },

  editorTheme: {
    projects: { enabled: false },
    tours: false,
    palette: { categories: ['IoT pipelines', 'common', 'function', 'network', 'sequence', 'parser', 'storage'] },
  },
};
