/**
 * The stock peer of the statestream benches: core `mqtt in` (QoS 1, persistent session, MQTT
 * 3.1.1) → function → node-red-node-mysql, one INSERT per message into the same `messages` table
 * (and so the same trigger) as ours.
 */
import { randomBytes } from 'node:crypto';
import { MYSQL_HOST, MYSQL_PORT, type TestMysqlDatabase } from '../../test/support/services';

export function stockStatestreamPeerFlow(
  brokerPort: number,
  database: TestMysqlDatabase,
  base: string,
): { flows: unknown[]; credentials: Record<string, Record<string, string>> } {
  const z = 'peer_tab';
  return {
    flows: [
      { id: z, type: 'tab', label: 'peer: core mqtt in → function → node-red-node-mysql' },
      {
        id: 'peer_broker',
        type: 'mqtt-broker',
        name: 'bench broker',
        broker: '127.0.0.1',
        port: String(brokerPort),
        clientid: `peer-${randomBytes(4).toString('hex')}`,
        autoConnect: true,
        usetls: false,
        protocolVersion: '4',
        keepalive: '60',
        cleansession: false,
      },
      {
        id: 'peer_in',
        type: 'mqtt in',
        z,
        name: '',
        topic: `${base}/#`,
        qos: '1',
        datatype: 'utf8',
        broker: 'peer_broker',
        nl: false,
        rap: true,
        rh: 0,
        inputs: 0,
        x: 120,
        y: 80,
        wires: [['peer_fn']],
      },
      {
        id: 'peer_fn',
        type: 'function',
        z,
        name: 'to INSERT',
        outputs: 1,
        x: 300,
        y: 80,
        wires: [['peer_mysql']],
        func: "msg.payload = [msg.topic, msg.qos || 0, msg.payload, msg.retain ? 1 : 0];\nmsg.topic = 'INSERT INTO messages (topic, qos, payload, retained) VALUES (?, ?, ?, ?)';\nreturn msg;",
      },
      { id: 'peer_mysql', type: 'mysql', z, mydb: 'peer_db', name: '', x: 480, y: 80, wires: [[]] },
      {
        id: 'peer_db',
        type: 'MySQLdatabase',
        name: '',
        host: MYSQL_HOST,
        port: String(MYSQL_PORT),
        db: database.config.database,
        tz: '+00:00',
        charset: 'UTF8MB4',
      },
    ],
    credentials: { peer_db: { user: database.config.user ?? 'root', password: database.config.password ?? '' } },
  };
}
