/**
 * The warm-up of the statestream end-to-end benchmarks: waits until the pipeline is subscribed,
 * its schema exists and every topic's labels are known, so that the measured phase only looks
 * them up.
 */
import type { MqttClient } from 'mqtt';
import type { Database } from '../../lib/db';
import { publishAll, scalar, sleep } from '../../test/e2e/statestream-support';

/** One message per entity under `base`, published again until all are stored; `window`: publishAll's. */
export async function warmUp(
  name: string,
  db: Database,
  client: MqttClient,
  base: string,
  options: { entities: number; window?: number },
): Promise<void> {
  // Repeated until stored: publishes before the subscription exists reach nobody.
  const messages = Array.from({ length: options.entities }, (_, i) => ({ topic: `${base}/sensor/s${i}/state`, payload: 'warm' }));
  const deadline = Date.now() + 60_000;
  while ((await scalar(db, 'SELECT COUNT(*) FROM messages')) < options.entities) {
    if (Date.now() > deadline) throw new Error(`${name}: warm-up messages were not stored`);
    await publishAll(client, messages, { window: options.window });
    await sleep(1500);
  }
  await sleep(1000);
}
