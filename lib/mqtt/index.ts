/** The MQTT engine's public surface (no Node-RED imports): what the node glue uses. */
export { MqttError, type MqttErrorCode } from './errors';
export { classifyConnectError, describeDisconnect, type ConnectProblem, type ConnectProblemKind } from './connect-errors';
export { mqtt5Losses, protocolName, ProtocolNegotiation, type ProtocolChoice, type ProtocolVersion } from './negotiation';
export {
  DEFAULTS as MQTT_DEFAULTS,
  describeBroker,
  mqttSettingsFromEnv,
  reconnectDelay,
  redactUrl,
  resolveBrokerSettings,
  stableClientId,
  toClientOptions,
  type BrokerProtocol,
  type BrokerSettings,
  type ResolvedBroker,
  type TlsSettings,
} from './options';
export { assertTopicName, matchesFilter, parseFilter, topicMatches, type ParsedFilter } from './topics';
export { DEFAULT_MAX_PAYLOAD_BYTES, decodePayload, type DecodeOptions, type PayloadFormat } from './payload';
export { AckTracker, settleAck, type InFlightPacket, type SettleOutcome } from './acks';
export {
  MqttSession,
  type MessageHandler,
  type Negotiated,
  type PublishOptions,
  type QoS,
  type ReceivedMessage,
  type SessionCounts,
  type SessionOptions,
  type SubscribeOptions,
  type Subscription,
} from './session';
export { acquireSession, sharedSessionCount, type SessionLease } from './registry';
