import assert from 'node:assert/strict';
import { referencedVariable, resolveEnvDefault, unsetVariableProblem } from '../../lib/env-reference';

describe('${NAME:-default} in configuration node fields', () => {
  const env: Record<string, string> = { MQTT_URL: 'mqtt://broker:1884', EMPTY: '', BLANK: '  ' };
  const lookup = (name: string): string | undefined => env[name];

  it('takes the variable when it is set and not empty, else the default', () => {
    assert.equal(resolveEnvDefault('${MQTT_URL:-mqtt://127.0.0.1:1883}', lookup), 'mqtt://broker:1884');
    assert.equal(resolveEnvDefault('${UNSET:-mqtt://127.0.0.1:1883}', lookup), 'mqtt://127.0.0.1:1883');
    assert.equal(resolveEnvDefault('${EMPTY:-sqlite:iot-pipelines.db}', lookup), 'sqlite:iot-pipelines.db');
    assert.equal(resolveEnvDefault('${BLANK:-x}', lookup), 'x');
    assert.equal(resolveEnvDefault(' ${UNSET:-x} ', lookup), 'x', 'surrounding blanks do not matter');
    assert.equal(resolveEnvDefault('${UNSET:-}', lookup), '', 'an empty default is a default');
  });

  it('leaves everything else as it is', () => {
    for (const text of ['mqtt://host:1883', '${MQTT_URL}', 'a${UNSET:-x}', '${1BAD:-x}', '${A:-b}c', ''])
      assert.equal(resolveEnvDefault(text, lookup), text);
  });

  it('names the variable of a whole reference, for error messages', () => {
    assert.equal(referencedVariable('${DATABASE_URL}'), 'DATABASE_URL');
    assert.equal(referencedVariable('${DATABASE_URL:-sqlite:x.db}'), 'DATABASE_URL');
    assert.equal(referencedVariable('mysql://h/d'), undefined);
  });

  it('explains a reference Node-RED left in place: its variable is not set', () => {
    assert.equal(
      unsetVariableProblem('${MQTT_URL}', 'mqtt://127.0.0.1:1883'),
      'the environment variable MQTT_URL is not set (or write ${MQTT_URL:-mqtt://127.0.0.1:1883} for a default)',
    );
    assert.equal(unsetVariableProblem('mqtt://broker:1883', 'x'), undefined);
    assert.equal(unsetVariableProblem('${A:-b}', 'x'), undefined);
  });
});
