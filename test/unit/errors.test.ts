/**
 * Every error class of lib/ stands on IotpError: a code, the class's own name, an optional cause,
 * and `instanceof` both for its area and for the base. Pinned per class, so a new one that
 * forgets the base, or a refactoring that loses a name or a code, fails here.
 */
import assert from 'node:assert/strict';
import { IotpError } from '../../lib/errors';
import { ConnectorError, isConnectorError } from '../../lib/connector/errors';
import { DeadLetterError } from '../../lib/dead-letter';
import {
  DatabaseConfigError,
  DatabaseError,
  IdentifierError,
  SqlParameterError,
  classifyError,
  isDatabaseError,
} from '../../lib/db/errors';
import { SqliteUnavailableError } from '../../lib/db/sqlite-driver';
import { IsemsError } from '../../lib/isems/errors';
import { MigrationSetError } from '../../lib/migrations';
import { MqttError } from '../../lib/mqtt/errors';
import { DependencyApiError } from '../../lib/private-apis';
import { RuntimeConfigError } from '../../lib/runtime-env';
import { AggregateError } from '../../lib/sensors/aggregate-row';
import { CatalogError } from '../../lib/sensors/catalog';
import { QualityStateError } from '../../lib/sensors/quality';
import { ReadApiError } from '../../lib/sensors/read-api';
import { ReadingError } from '../../lib/sensors/reading';
import { SensorsFileError } from '../../lib/sensors/sensors-file';
import { StateFileError } from '../../lib/sensors/state-file';
import { SimulatorError } from '../../lib/simulator/errors';
import { StatestreamError, isStatestreamError } from '../../lib/statestream/errors';
import { TimeParseError, WindowError } from '../../lib/window/errors';
import { WriterError, describeError } from '../../lib/writer/errors';

describe('errors: one base with a code', () => {
  const cases: Array<[IotpError, string, string, string]> = [
    [new ConnectorError('INVALID_TIME', 'bad time'), 'ConnectorError', 'INVALID_TIME', 'bad time'],
    [new DeadLetterError('DEAD_LETTER_UNWRITABLE', 'full'), 'DeadLetterError', 'DEAD_LETTER_UNWRITABLE', 'full'],
    [new DatabaseError('gone', { kind: 'connection', code: 'ECONNREFUSED' }), 'DatabaseError', 'ECONNREFUSED', 'gone'],
    [new DatabaseConfigError('DATABASE_URL', 'no host'), 'DatabaseConfigError', 'DB_CONFIG_INVALID', 'no host'],
    [new SqlParameterError('no value for :a', 'DB_PARAM_MISSING'), 'SqlParameterError', 'DB_PARAM_MISSING', 'no value for :a'],
    [new IdentifierError('bad name'), 'IdentifierError', 'DB_IDENTIFIER_INVALID', 'bad name'],
    [new SqliteUnavailableError('no sqlite'), 'SqliteUnavailableError', 'DB_SQLITE_UNAVAILABLE', 'no sqlite'],
    [new IsemsError('ISEMS_BAD_TOPIC', 'bad topic'), 'IsemsError', 'ISEMS_BAD_TOPIC', 'bad topic'],
    [new MigrationSetError('not a set'), 'MigrationSetError', 'MIGRATION_SET_INVALID', 'not a set'],
    [new MqttError('MQTT_BAD_TOPIC', 'wildcard'), 'MqttError', 'MQTT_BAD_TOPIC', 'wildcard'],
    [new DependencyApiError('MQTT.js', '_sendPacket', 'gone'), 'DependencyApiError', 'DEPENDENCY_API_MISSING', 'gone'],
    [new RuntimeConfigError('PORT', 'PORT must be a number'), 'RuntimeConfigError', 'RUNTIME_CONFIG_INVALID', 'PORT must be a number'],
    [new AggregateError('mean', 'not a number'), 'AggregateError', 'BAD_AGGREGATE', 'not a number'],
    [new CatalogError('BAD_IDENTIFIER', 'bad'), 'CatalogError', 'BAD_IDENTIFIER', 'bad'],
    [new QualityStateError('truncated'), 'QualityStateError', 'BAD_QUALITY_STATE', 'quality state: truncated'],
    [new ReadApiError('limit', 'too big'), 'ReadApiError', 'BAD_PARAMETER', 'limit: too big'],
    [new ReadingError({ code: 'BAD_JSON', field: 'payload', message: 'not JSON' }), 'ReadingError', 'BAD_JSON', 'not JSON'],
    [
      new SensorsFileError('INVALID', '"3".range', 'not a range'),
      'SensorsFileError',
      'INVALID',
      'sensors definition "3".range: not a range',
    ],
    [new StateFileError('STATE_BAD_JSON', 'broken'), 'StateFileError', 'STATE_BAD_JSON', 'broken'],
    [new SimulatorError('INVALID_CONFIG', 'no series'), 'SimulatorError', 'INVALID_CONFIG', 'no series'],
    [new StatestreamError('topic-wildcard', 'has +', 'a/+/b/c'), 'StatestreamError', 'topic-wildcard', 'has +'],
    [new WindowError('LATE_READING', 'late'), 'WindowError', 'LATE_READING', 'late'],
    [new TimeParseError('x', 'not a time'), 'TimeParseError', 'INVALID_TIMESTAMP', 'invalid timestamp "x": not a time'],
    [new WriterError('WRITER_CLOSED', 'closed'), 'WriterError', 'WRITER_CLOSED', 'closed'],
  ];

  it('every class is an Error and an IotpError with its own name, its code and its message', () => {
    for (const [err, name, code, message] of cases) {
      assert.ok(err instanceof Error, name);
      assert.ok(err instanceof IotpError, name);
      assert.equal(err.name, name);
      assert.equal(err.code, code, name);
      assert.equal(err.message, message, name);
      assert.equal(String(err), `${name}: ${message}`, 'Node-RED shows the name before the message');
      assert.equal('cause' in err, false, `${name} has no cause unless given one`);
      assert.match(err.stack ?? '', new RegExp(`^${name}: `), name);
    }
  });

  it('subclasses stay instances of their area class, so existing instanceof checks hold', () => {
    assert.ok(new TimeParseError(1, 'x') instanceof WindowError);
    for (const err of [
      new DatabaseConfigError('X', 'm'),
      new SqlParameterError('m', 'C'),
      new IdentifierError('m'),
      new SqliteUnavailableError('m'),
    ]) {
      assert.ok(err instanceof DatabaseError && isDatabaseError(err));
    }
    assert.ok(isConnectorError(new ConnectorError('NOT_READY', 'starting')));
    assert.ok(isStatestreamError(new StatestreamError('payload-type', 'x')));
    assert.ok(!(new MqttError('MQTT_BAD_TOPIC', 'x') instanceof WriterError), 'areas stay apart');
  });

  it('keeps what each area adds beside the code', () => {
    const db = new DatabaseError('lost', {
      kind: 'connection',
      code: 'PROTOCOL_CONNECTION_LOST',
      errno: 2013,
      sqlState: 'HY000',
      dialect: 'mysql',
    });
    assert.deepEqual([db.kind, db.errno, db.sqlState, db.dialect], ['connection', 2013, 'HY000', 'mysql']);
    assert.equal(new DatabaseConfigError('DATABASE_URL', 'm').variable, 'DATABASE_URL');
    assert.equal(new StatestreamError('topic-invalid', 'x', 't'.repeat(400)).topic, `${'t'.repeat(300)}…`);
    assert.deepEqual(new ReadApiError('skip', 'negative').toJSON(), {
      error: 'skip: negative',
      code: 'BAD_PARAMETER',
      parameter: 'skip',
      reason: 'negative',
    });
    assert.equal(new ConnectorError('INVALID_BODY', 'no data').reason, 'no data');
    assert.equal(new ReadingError({ code: 'NON_FINITE', field: 'value', message: 'NaN' }).field, 'value');
    assert.equal(new RuntimeConfigError('HOST', 'm').variable, 'HOST');
    assert.deepEqual(describeError(new WriterError('WRITER_OVERFLOW', 'full')), { message: 'full', code: 'WRITER_OVERFLOW' });
  });

  it("carries a cause when given one, and a driver error keeps its own as the database error's cause", () => {
    const socket = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const mqtt = new MqttError('MQTT_PUBLISH_FAILED', 'publish failed', { cause: socket });
    assert.equal(mqtt.cause, socket);
    assert.equal(new WriterError('WRITER_JOURNAL', 'disk full', { cause: socket }).cause, socket);
    const classified = classifyError(socket, 'mysql');
    assert.ok(classified instanceof IotpError);
    assert.deepEqual([classified.code, classified.kind, classified.cause], ['ECONNREFUSED', 'connection', socket]);
  });
});
