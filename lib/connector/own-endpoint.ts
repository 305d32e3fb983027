/**
 * An endpoint given as a path (`/simulated-receiver`) is one of this Node-RED's own HTTP
 * endpoints: under its `httpNodeRoot`, on the port and address it listens on. The data
 * connector example posts to its own simulated receiver that way, so the URL is right whatever
 * port and root the host runs with, instead of a guessed `http://127.0.0.1:1880/...`.
 */

/** The Node-RED settings that say where its HTTP-in endpoints answer. */
export interface HttpNodeSettings {
  uiPort?: unknown;
  uiHost?: unknown;
  https?: unknown;
  httpNodeRoot?: unknown;
}

/** The base URL (ending in `/`) of this Node-RED's HTTP-in endpoints, or undefined when they are disabled. */
export function httpNodeBaseUrl(settings: HttpNodeSettings): string | undefined {
  if (settings.httpNodeRoot === false) return undefined;
  const root = typeof settings.httpNodeRoot === 'string' && settings.httpNodeRoot !== '' ? settings.httpNodeRoot : '/';
  const port = Number(settings.uiPort ?? 1880);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  const listen = typeof settings.uiHost === 'string' ? settings.uiHost.trim() : '';
  // A wildcard address listens on loopback too; a named one is the only address that answers.
  const host =
    listen === '' || listen === '0.0.0.0'
      ? '127.0.0.1'
      : listen === '::'
        ? '[::1]'
        : listen.includes(':') && !listen.startsWith('[')
          ? `[${listen}]`
          : listen;
  const scheme = settings.https ? 'https' : 'http';
  const path = `/${root.replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');
  return `${scheme}://${host}:${port}${path}`;
}

/** True for an endpoint written as a path on this Node-RED. */
export function isOwnEndpoint(endpoint: string): boolean {
  return endpoint.startsWith('/') && !endpoint.startsWith('//');
}

/** The absolute URL of a path endpoint under this Node-RED's HTTP-in root. */
export function ownEndpointUrl(path: string, baseUrl: string): string {
  return `${baseUrl}${path.replace(/^\/+/, '')}`;
}
