import { createInbox, headers as natsHeaders, type Msg, type NatsConnection } from 'nats';

/** The server's acknowledgement of a message stored in a stream. */
export interface PubAck {
  stream: string;
  seq: number;
  duplicate?: boolean;
}

/** A JetStream publication refused or unanswered; `api_error` as nats.js has it, so callers test one shape. */
export class PublishError extends Error {
  override name = 'PublishError';
  constructor(
    message: string,
    readonly code: string,
    readonly api_error?: { code: number; err_code?: number; description: string },
  ) {
    super(message);
  }
}

/** How often outstanding publications are checked against their deadlines (one timer, not one per message). */
const SWEEP_EVERY_MS = 250;

/**
 * JetStream publications pipelined on one connection: each message goes out with a reply subject under one
 * inbox subscription, and its acknowledgement settles its promise. The client's `js.publish` makes each
 * message a request with its own timer and bookkeeping, which cost more CPU than the message itself at
 * thousands of cells a second. Same guarantee: a promise resolves only once the server has stored the
 * message; it rejects on a refusal, or with code TIMEOUT when no answer came within `timeoutMs`.
 */
export class PipelinedPublisher {
  private readonly prefix = createInbox();
  private readonly waiting = new Map<string, { resolve: (ack: PubAck) => void; reject: (error: Error) => void; deadline: number }>();
  private sequence = 0;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly nc: NatsConnection) {
    nc.subscribe(`${this.prefix}.*`, { callback: (error, msg) => error || this.settle(msg) });
    // A closed connection answers nothing more: fail what is outstanding at once.
    void nc.closed().then(() => this.expire(Infinity));
  }

  publish(subject: string, data: Uint8Array, options: { msgID?: string; timeoutMs: number }): Promise<PubAck> {
    const token = (this.sequence++).toString(36);
    const promise = new Promise<PubAck>((resolve, reject) => this.waiting.set(token, { resolve, reject, deadline: Date.now() + options.timeoutMs }));
    let headers;
    if (options.msgID) {
      headers = natsHeaders();
      headers.set('Nats-Msg-Id', options.msgID);
    }
    try {
      this.nc.publish(subject, data, { reply: `${this.prefix}.${token}`, headers });
    } catch (error) {
      this.waiting.delete(token);
      return Promise.reject(error);
    }
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.expire(), SWEEP_EVERY_MS);
      this.sweeper.unref();
    }
    return promise;
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length + 1);
    const entry = this.waiting.get(token);
    if (!entry) return; // answered after its deadline: the caller has retried already
    this.waiting.delete(token);
    // No stream took it: the server answers a message with a reply subject and no responders with status 503.
    if (msg.headers?.code && msg.headers.code >= 300) {
      entry.reject(new PublishError(`no stream stored the message (${msg.headers.code} ${msg.headers.description})`, String(msg.headers.code)));
      return;
    }
    const answer = JSON.parse(new TextDecoder().decode(msg.data)) as PubAck & { error?: { code: number; err_code?: number; description: string } };
    if (answer.error) entry.reject(new PublishError(answer.error.description, String(answer.error.code), answer.error));
    else entry.resolve(answer);
  }

  /** Rejects the publications past their deadline (all of them with `now` = Infinity). */
  private expire(now = Date.now()): void {
    for (const [token, entry] of this.waiting) {
      if (entry.deadline > now) continue;
      this.waiting.delete(token);
      entry.reject(new PublishError('no acknowledgement from the server in time', 'TIMEOUT'));
    }
    if (this.waiting.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}
