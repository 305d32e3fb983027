/**
 * The base of every error the package's lib/ throws on purpose. Each area (connector, db, isems,
 * mqtt, sensors, simulator, statestream, window, writer) has one thin subclass with its own union
 * of codes, so a node or a Catch node branches on `err.code` (a stable, machine-readable string)
 * or on `instanceof <Area>Error`, never on message text. Areas that need more than a code add it
 * on their subclass: the database errors carry a `kind` (connection, data, transient, fatal) that
 * says whether to retry, the statestream errors the topic, the sensors file errors a path.
 *
 * `name` is the subclass's own (`MqttError`): Node-RED prints it before the message.
 */
export abstract class IotpError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    // A cause only when there is one, so `'cause' in err` says whether something lies behind it.
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}
