/**
 * Run inside a network namespace of its own (test/support/fresh-start.ts): makes TCP ports of
 * that namespace's loopback reachable from outside through Unix sockets, which the file system
 * shares across namespaces. Arguments: `<socket path>=<port>` pairs. Exits with its parent.
 */
import { connect, createServer } from 'node:net';
import { rmSync } from 'node:fs';

for (const pair of process.argv.slice(2)) {
  const [path, port] = pair.split('=');
  rmSync(path!, { force: true });
  createServer((outside) => {
    const inside = connect(Number(port), '127.0.0.1');
    const drop = (): void => {
      outside.destroy();
      inside.destroy();
    };
    outside.on('error', drop).on('close', drop);
    inside.on('error', drop).on('close', drop);
    outside.pipe(inside).pipe(outside);
  }).listen(path);
}
// Leave with the parent (npm start): once it is gone, this process is someone else's child.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();
