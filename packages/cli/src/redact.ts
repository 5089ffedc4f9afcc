/**
 * Secrets never reach the terminal or a log: every line this process writes goes through `redact`, which
 * hides the passwords and tokens it was given and the credentials inside any URL (`nats://user:pw@host`).
 */
const secrets = new Set<string>();

/** A value to hide wherever it appears (short values are ignored: hiding them would mangle ordinary text). */
export function addSecret(value: string | undefined): void {
  if (value !== undefined && value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]+):([^\s@/]*)@/gi, '$1$2:***@').replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]+)@/gi, '$1***@');
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/** Routes everything written to stdout and stderr through `redact` (the one place every message passes). */
export function redactOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === 'string' ? redact(chunk) : Buffer.isBuffer(chunk) ? redact(chunk.toString('utf8')) : chunk, ...rest)) as typeof stream.write;
  }
}
