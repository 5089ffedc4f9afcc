import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';


/**
 * Writes a file atomically: `fill` writes through `write` into a temp file beside `path`, which is then
 * fsynced, renamed into place and the directory fsynced; `path` is either the old file or the complete new one.
 */
export async function writeFileAtomic(path: string, fill: (write: (chunk: string | Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let file: FileHandle | null = null;
  try {
    file = await open(tmp, 'wx');
    const handle = file;
    // Small writes are gathered into ~1 MiB blocks: one syscall per block, not per row.
    let pending: Buffer[] = [];
    let size = 0;
    const flush = async () => {
      if (size === 0) return;
      const block = pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
      pending = [];
      size = 0;
      await handle.write(block);
    };
    await fill(async (chunk) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      pending.push(b);
      size += b.length;
      if (size >= 1 << 20) await flush();
    });
    await flush();
    await handle.sync();
    await handle.close();
    file = null;
    await rename(tmp, path);
    await syncDir(dirname(path));
  } catch (err) {
    await file?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Makes a rename durable; platforms that cannot fsync a directory (Windows) get what the rename gives. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (!['EISDIR', 'EPERM', 'EINVAL'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
}
