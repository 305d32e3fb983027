/**
 * node-red-node-test-helper bound to the Node-RED this suite runs on (4.1 in the project,
 * 5.x in the Node 22 mirror), with the package's message catalogs available.
 */
import helper from 'node-red-node-test-helper';
import { packageRoot } from './node-red';
import { makeTempDir, removeTempDir } from './tmp';

helper.init(require.resolve('node-red', { paths: [packageRoot] }));

// The helper's runtime has no user directory, so an ingest would dead-letter into the working
// directory: every test process gets a temporary one instead, kept under whatever a test sets.
const deadLetterDir = makeTempDir('iotp-node-dead-letters-');
process.on('exit', () => removeTempDir(deadLetterDir));
const settings = helper.settings.bind(helper);
helper.settings = (userSettings: Parameters<typeof helper.settings>[0]) =>
  settings({ iotpDeadLetterDir: deadLetterDir, ...userSettings } as never);
helper.settings({});

export { helper };

/** A test flow: node objects with whatever properties their node types take. */
export function flow(nodes: Record<string, unknown>[]): Parameters<typeof helper.load>[1] {
  return nodes as unknown as Parameters<typeof helper.load>[1];
}

/** Resolves on the first `event` the node emits, or rejects after timeoutMs. */
export function nextEvent<T = unknown>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 10000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, onEvent);
      reject(new Error(`no '${event}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEvent = (value: T): void => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(event, onEvent);
  });
}

/** Collects the next `count` messages a helper node receives. */
export function collect<T = unknown>(node: NodeJS.EventEmitter, count: number, timeoutMs = 10000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const received: T[] = [];
    const timer = setTimeout(() => {
      node.removeListener('input', onInput);
      reject(new Error(`received ${received.length} of ${count} messages within ${timeoutMs} ms`));
    }, timeoutMs);
    const onInput = (msg: T): void => {
      received.push(msg);
      if (received.length === count) {
        clearTimeout(timer);
        node.removeListener('input', onInput);
        resolve(received);
      }
    };
    node.on('input', onInput);
  });
}
