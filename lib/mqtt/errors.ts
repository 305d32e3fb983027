/**
 * Typed errors of the MQTT engine. Every error carries a machine-readable `code` so callers (and
 * Node-RED Catch nodes) can tell configuration mistakes from broker trouble from bad payloads.
 * Messages never contain a password: settings are described with `describeBroker()`.
 */
import { IotpError } from '../errors';

export type MqttErrorCode =
  | 'MQTT_BAD_SETTINGS' // invalid broker settings or environment variables
  | 'MQTT_BAD_TOPIC' // invalid topic or topic filter
  | 'MQTT_PUBLISH_QUEUE_FULL' // too many publishes waiting for the broker (offline queue bound)
  | 'MQTT_PUBLISH_FAILED' // the broker refused or the connection ended before the acknowledgement
  | 'MQTT_SESSION_CLOSED' // the shared session was released
  | 'MQTT_PAYLOAD_TOO_LARGE'
  | 'MQTT_PAYLOAD_NOT_JSON'
  | 'MQTT_PAYLOAD_TOO_DEEP' // JSON nested deeper than lib/json-depth.ts allows
  | 'MQTT_PAYLOAD_NOT_UTF8';

export class MqttError extends IotpError<MqttErrorCode> {}
