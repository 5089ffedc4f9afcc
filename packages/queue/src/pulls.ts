import { createInbox, nanos, type Msg, type NatsConnection, type Subscription } from 'nats';
import { EventChannel } from './channel.js';

/** A message delivered by a pull: its place in the stream, its delivery count, and the replies to it. */
export interface PulledMessage {
  readonly data: Uint8Array;
  readonly streamSequence: number;
  readonly deliveryCount: number;
  ack(): void;
  nak(): void;
  working(): void;
}

/**
 * A pull that ended without its messages: `409` the server refused it (too many pulls waiting, a leader
 * moving), `404` the consumer is gone (servers after 2.9 say so), `TIMEOUT` the server never answered it
 * (a leader lost; 2.9 also answers nothing for a consumer that is gone).
 */
export class PullError extends Error {
  override name = 'PullError';
  constructor(
    message: string,
    readonly code: '404' | '409' | 'TIMEOUT',
  ) {
    super(message);
  }
}

const encoder = new TextEncoder();
const ACK = encoder.encode('+ACK');
const NAK = encoder.encode('-NAK');
const IN_PROGRESS = encoder.encode('+WPI');
/** How long past its expiry a pull the server never answered is given up. */
const UNANSWERED_GRACE_MS = 1000;
/** How often open pulls are checked against their deadlines (one timer, not one per pull). */
const CHECK_EVERY_MS = 250;

interface OpenPull {
  readonly consumer: string;
  /** Messages still to come for it (as far as this side can tell). */
  wanted: number;
  readonly deadline: number;
  readonly messages: EventChannel<PulledMessage>;
  failure?: PullError;
}

/**
 * JetStream pull requests on one inbox subscription for the life of the connection. The client's
 * `consumer.fetch` subscribes a fresh inbox for each pull and unsubscribes it after: with a thousand
 * workers that churn is most of the server's work per cell (every change of interest resets its subject
 * cache), and a message the server sends to a pull the client has just given up on lands on no
 * subscription and waits out the whole ack wait before anyone gets it. Here every pull answers on
 * `<inbox>.<n>`; a message that arrives when no open pull wants it is given back at once (nak).
 *
 * The server names the request only in its status messages (408 expired, 409 refused); cells carry their
 * own subject, so they go to the oldest open pull of their consumer. Which of one worker's pulls a cell is
 * counted against does not matter: every cell reaches a pull that wants one or goes back to the queue.
 */
export class PullInbox {
  private readonly prefix = createInbox();
  private readonly open = new Map<string, OpenPull>();
  private sequence = 0;
  private subscription: Subscription | null = null;
  private checker: NodeJS.Timeout | null = null;

  constructor(private readonly nc: NatsConnection) {}

  /**
   * Asks `consumer` of `stream` for up to `batch` messages, waiting up to `expiresMs` for them, and yields
   * them as they arrive. Returns when all came, the server ended the request or `signal` aborted; messages
   * not taken by the reader go back to the queue.
   */
  async *pull(stream: string, consumer: string, batch: number, expiresMs: number, signal?: AbortSignal): AsyncIterable<PulledMessage> {
    this.subscription ??= this.nc.subscribe(`${this.prefix}.*`, { callback: (error, msg) => error || this.receive(msg) });
    const token = (this.sequence++).toString(36);
    const pull: OpenPull = { consumer, wanted: batch, deadline: Date.now() + expiresMs + UNANSWERED_GRACE_MS, messages: new EventChannel() };
    this.open.set(token, pull);
    this.checker ??= setInterval(() => this.expire(), CHECK_EVERY_MS).unref();
    const stop = () => pull.messages.end();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, encoder.encode(JSON.stringify({ batch, expires: nanos(expiresMs) })), {
        reply: `${this.prefix}.${token}`,
      });
      yield* pull.messages;
      if (pull.failure) throw pull.failure;
    } finally {
      signal?.removeEventListener('abort', stop);
      this.open.delete(token);
      pull.messages.end();
      for (const message of pull.messages.drain()) message.nak();
      if (this.open.size === 0 && this.checker) {
        clearInterval(this.checker);
        this.checker = null;
      }
    }
  }

  /** Ends every open pull and the subscription (the connection is closing). */
  close(): void {
    for (const pull of this.open.values()) pull.messages.end();
    this.subscription?.unsubscribe();
    this.subscription = null;
  }

  private receive(msg: Msg): void {
    if (msg.reply?.startsWith('$JS.ACK.')) {
      this.deliver(msg);
      return;
    }
    const code = msg.headers?.code ?? 0;
    const pull = this.open.get(msg.subject.slice(this.prefix.length + 1));
    if (!pull || code === 100) return; // an idle heartbeat, or a status for a pull already ended
    const description = msg.headers?.description ?? '';
    if (code === 409 && /consumer deleted/i.test(description)) pull.failure = new PullError(`consumer ${pull.consumer} deleted`, '404');
    else if (code === 503 || code === 404) pull.failure = new PullError(`consumer ${pull.consumer} not found (${code} ${description})`, '404');
    else if (code === 409) pull.failure = new PullError(`pull refused: ${description}`, '409');
    // 408: the request expired, what was delivered is all it gets.
    pull.messages.end();
  }

  private deliver(msg: Msg): void {
    const message = pulledMessage(msg);
    for (const pull of this.open.values()) {
      if (pull.wanted === 0 || pull.messages.isEnded || pull.consumer !== message.consumer) continue;
      pull.messages.push(message);
      if (--pull.wanted === 0) pull.messages.end();
      return;
    }
    // Sent to a pull this side has ended (expired here first, or its reader stopped): back to the queue now.
    message.nak();
  }

  private expire(): void {
    const now = Date.now();
    for (const pull of this.open.values()) {
      if (pull.deadline > now || pull.messages.isEnded) continue;
      pull.failure = new PullError(`no answer from the server to a pull of ${pull.consumer}`, 'TIMEOUT');
      pull.messages.end();
    }
  }
}

/**
 * The message with what its reply subject says: `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>…`,
 * or since 2.9 with domain and account hash after `ACK`.
 */
function pulledMessage(msg: Msg): PulledMessage & { consumer: string } {
  const tokens = msg.reply!.split('.');
  const at = tokens.length === 9 ? 2 : 4;
  return {
    data: msg.data,
    consumer: tokens[at + 1],
    deliveryCount: Number(tokens[at + 2]),
    streamSequence: Number(tokens[at + 3]),
    ack: () => msg.respond(ACK),
    nak: () => msg.respond(NAK),
    working: () => msg.respond(IN_PROGRESS),
  };
}
