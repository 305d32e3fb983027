/**
 * RabbitMQ's MQTT plugin on a port of its own, for tests of brokers that speak only MQTT 3.1.1
 * (RabbitMQ before 3.13 closes the connection on an MQTT 5 CONNECT).
 *
 * The plugin listens on 1883 by default, where mosquitto already is; started that way it fails.
 * So it is started in the running RabbitMQ node with its listener set first (`rabbitmqctl eval`):
 * nothing is written to RabbitMQ's configuration, and a restarted RabbitMQ comes back as it was
 * (a conf.d entry for the plugin would even stop RabbitMQ from booting while the plugin is
 * disabled). Idempotent: when the port answers, nothing is done. Needs root (or the rabbitmq
 * user) for rabbitmqctl, as CI has.
 */
import { spawnSync } from 'node:child_process';
import { inCi, portOpen } from './services';

export const RABBITMQ_HOST = '127.0.0.1';
export const RABBITMQ_MQTT_PORT = Number(process.env.TEST_RABBITMQ_MQTT_PORT ?? 1884);
const AMQP_PORT = 5672;

/** Erlang run in the RabbitMQ node: the plugin's code path (a node boots with enabled plugins only), listener, start. */
function startScript(port: number): string {
  return [
    '{ok, PluginsDirs} = application:get_env(rabbit, plugins_dir),',
    '[case code:lib_dir(App) of',
    '   {error, bad_name} ->',
    '     [code:add_patha(Ebin) || Dir <- string:split(PluginsDirs, ":", all),',
    '                              Ebin <- filelib:wildcard(Dir ++ "/" ++ atom_to_list(App) ++ "-*/ebin")];',
    '   _ -> ok',
    ' end || App <- [amqp_client, rabbitmq_mqtt]],',
    'application:load(rabbitmq_mqtt),',
    `ok = application:set_env(rabbitmq_mqtt, tcp_listeners, [{"${RABBITMQ_HOST}", ${port}}]),`,
    'application:ensure_all_started(rabbitmq_mqtt).',
  ].join('\n');
}

/** Why RabbitMQ's MQTT listener cannot be had, or undefined once it listens on RABBITMQ_MQTT_PORT. */
export async function ensureRabbitMqMqtt(): Promise<string | undefined> {
  if (await portOpen(RABBITMQ_HOST, RABBITMQ_MQTT_PORT)) return undefined;
  if (spawnSync('rabbitmqctl', ['version'], { encoding: 'utf8', timeout: 30_000 }).error)
    return 'RabbitMQ is not installed (no rabbitmqctl)';
  if (!(await portOpen(RABBITMQ_HOST, AMQP_PORT)))
    return `RabbitMQ is not running (nothing on ${RABBITMQ_HOST}:${AMQP_PORT}); start it with: /etc/init.d/rabbitmq-server start`;
  const run = spawnSync('rabbitmqctl', ['eval', startScript(RABBITMQ_MQTT_PORT)], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0 || !/\{ok,/.test(run.stdout)) {
    return `starting RabbitMQ's MQTT plugin on port ${RABBITMQ_MQTT_PORT} failed: ${(run.stderr || run.stdout || String(run.error)).trim().slice(0, 300)}`;
  }
  for (let i = 0; i < 50; i++) {
    if (await portOpen(RABBITMQ_HOST, RABBITMQ_MQTT_PORT)) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return `RabbitMQ's MQTT plugin started but nothing listens on ${RABBITMQ_HOST}:${RABBITMQ_MQTT_PORT}`;
}

/** Like requireService: fails under CI=true, skips with the reason elsewhere. */
export async function requireRabbitMqMqtt(context: Mocha.Context): Promise<void> {
  const problem = await ensureRabbitMqMqtt();
  if (problem === undefined) return;
  if (inCi()) throw new Error(`${problem} (CI=true requires RabbitMQ's MQTT plugin)`);
  console.log(`      [skip] ${problem}`);
  context.skip();
}
