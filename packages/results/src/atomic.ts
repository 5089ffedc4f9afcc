import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StorageError } from './errors.js';

/** Gathered writes go out in blocks of about this size: one syscall per block, not per row. */
const BLOCK = 1 << 20;

/**
 * Writes a file so that `path` is either what it was or the complete new file, never a part of it: `fill`
 * writes through `write` into a temp file beside `path`; every write's byte count is checked (a device that
 * is filling up accepts short writes without an error), the file is fsynced, renamed into place, and the
 * directory fsynced. On any failure the temp file is removed and the error thrown: a fault of the file system
 * as a StorageError naming `path`, an error thrown by `fill` itself as it was.
 */
export async function writeFileAtomic(path: string, fill: (write: (chunk: string | Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let file: FileHandle | null = null;
  const storage = async <T>(action: string, step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      throw error instanceof StorageError ? error : new StorageError(path, action, error);
    }
  };
  try {
    file = await storage('create a temp file', () => open(tmp, 'wx'));
    const handle = file;
    let pending: Buffer[] = [];
    let size = 0;
    const flush = async () => {
      if (size === 0) return;
      const block = pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
      pending = [];
      size = 0;
      await storage('write', () => writeAll(handle, block));
    };
    await fill(async (chunk) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      pending.push(b);
      size += b.length;
      if (size >= BLOCK) await flush();
    });
    await flush();
    await storage('fsync', () => handle.sync());
    file = null;
    await storage('close', () => handle.close());
    await storage('rename the temp file into place', () => rename(tmp, path));
    await storage('fsync the directory', () => syncDir(dirname(path)));
  } catch (err) {
    await file?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Writes all of `block`, continuing after short writes; a write that makes no progress is a fault. */
async function writeAll(handle: FileHandle, block: Buffer): Promise<void> {
  let offset = 0;
  while (offset < block.length) {
    const { bytesWritten } = await handle.write(block, offset, block.length - offset);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'SHORT_WRITE' });
    offset += bytesWritten;
  }
}

/** Makes a rename durable; platforms that cannot fsync a directory (Windows) get what the rename gives. */
export async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, 'r');
  } catch (err) {
    if (['EISDIR', 'EPERM', 'EINVAL'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    if (!['EISDIR', 'EPERM', 'EINVAL'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle.close();
  }
}
