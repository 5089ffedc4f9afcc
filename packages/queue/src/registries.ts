import { JSONCodec, type JetStreamClient, type JetStreamManager, type KV } from 'nats';
import { SWEEPS_BUCKET, WORKERS_BUCKET, WORKER_TTL_MS, isNotFound } from './streams.js';

/** A sweep's entry in the sweeps bucket: what `status` shows and what workers look for. */
export interface SweepRecord {
  sweep: string;
  state: 'running' | 'done' | 'cancelled';
  total: number;
  ok: number;
  failed: number;
  max_attempts: number;
  /** The cells' lease (the consumer's ack wait); absent in records written before it was kept here. */
  lease_ms?: number;
  started: string;
  updated: string;
}

/** A worker's entry in the workers bucket, refreshed while it runs; the bucket's TTL forgets dead workers. */
export interface WorkerRecord {
  name: string;
  slots: number;
  busy: number;
  done: number;
  sweeps: string[];
  seen: string;
}

const json = JSONCodec();

/** Reads of many keys go out this many at a time (a `status` of a thousand workers is one short burst). */
const PARALLEL_GETS = 64;

/** One KV bucket holding JSON records, listed through its stream's subjects (one request, no consumer). */
class Registry<T> {
  constructor(
    protected readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
  ) {}

  async get(key: string): Promise<T | null> {
    const entry = await this.kv.get(key);
    return entry && entry.value.length > 0 ? (json.decode(entry.value) as T) : null;
  }

  async put(key: string, record: T): Promise<void> {
    await this.kv.put(key, json.encode(record));
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  /** Keys with a stored value or tombstone; listing keys through the KV API would create a consumer per call. */
  async keys(): Promise<string[]> {
    const prefix = `$KV.${this.bucket}.`;
    try {
      const info = await this.jsm.streams.info(`KV_${this.bucket}`, { subjects_filter: `${prefix}>` });
      return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  /** Every record, read a bounded number at a time. */
  async list(): Promise<T[]> {
    const keys = await this.keys();
    const records: T[] = [];
    for (let start = 0; start < keys.length; start += PARALLEL_GETS) {
      const batch = await Promise.all(keys.slice(start, start + PARALLEL_GETS).map((key) => this.get(key)));
      for (const record of batch) if (record) records.push(record);
    }
    return records;
  }
}

/** Sweeps by name: written by their coordinator, read by workers (which to serve) and `status`. */
export class SweepRegistry extends Registry<SweepRecord> {
  static async open(js: JetStreamClient, jsm: JetStreamManager, create: { replicas: number } | null): Promise<SweepRegistry> {
    const kv = create ? await js.views.kv(SWEEPS_BUCKET, { history: 1, replicas: create.replicas }) : await js.views.kv(SWEEPS_BUCKET, { bindOnly: true });
    return new SweepRegistry(kv, jsm, SWEEPS_BUCKET);
  }

  async running(): Promise<string[]> {
    return (await this.list()).filter((record) => record.state === 'running').map((record) => record.sweep);
  }

  /** Calls `onChange` with every new value of one sweep's record until the returned stop is called. */
  async watch(sweep: string, onChange: (record: SweepRecord) => void): Promise<() => void> {
    const watcher = await this.kv.watch({ key: sweep });
    void (async () => {
      for await (const entry of watcher) if (entry.value.length > 0) onChange(json.decode(entry.value) as SweepRecord);
    })().catch(() => undefined); // a watch ends with its connection; the record only feeds notes
    return () => watcher.stop();
  }
}

/** Workers by key, each refreshed by its worker; entries unrefreshed for WORKER_TTL_MS expire. */
export class WorkerRegistry extends Registry<WorkerRecord> {
  static async open(js: JetStreamClient, jsm: JetStreamManager, create: { replicas: number } | null): Promise<WorkerRegistry> {
    const kv = create ? await js.views.kv(WORKERS_BUCKET, { history: 1, replicas: create.replicas, ttl: WORKER_TTL_MS }) : await js.views.kv(WORKERS_BUCKET, { bindOnly: true });
    return new WorkerRegistry(kv, jsm, WORKERS_BUCKET);
  }
}
