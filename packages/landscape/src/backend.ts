import * as tf from '@tensorflow/tfjs-core';
import { NATIVE_TFJS_PACKAGES, type BackendChoice } from '@hessweep/grid';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** The backend asked for cannot be used here; the message says why and what to install. */
export class BackendError extends Error {
  override name = 'BackendError';
}

async function loadNative(): Promise<string | null> {
  for (const name of NATIVE_TFJS_PACKAGES) {
    try {
      await import(name);
      return name;
    } catch (error) {
      if (!isModuleNotFound(error)) throw new BackendError(`${name} is installed but failed to load: ${(error as Error).message}`);
    }
  }
  return null;
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

async function activate(name: BackendName): Promise<boolean> {
  // Production mode only silences tfjs's console warnings (in 4.22 nothing else reads the flag), among them the
  // cpu backend's banner on every run that suggests installing tfjs-node: `doctor` says that once, as a note.
  tf.enableProdMode();
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  const ok = await tf.setBackend(name);
  await tf.ready();
  return ok && tf.getBackend() === name;
}

/**
 * Selects and initialises a tfjs backend. `auto` takes the native TensorFlow binding when installed,
 * else wasm, else cpu; an explicit choice that cannot be honoured is a BackendError.
 */
export async function useBackend(choice: BackendChoice): Promise<BackendName> {
  if (tf.getBackend() && choice !== 'auto' && tf.getBackend() === choice) return choice;
  if (choice === 'tensorflow' || choice === 'auto') {
    const native = await loadNative();
    if (native && (await activate('tensorflow'))) return 'tensorflow';
    if (choice === 'tensorflow') {
      throw new BackendError(
        native
          ? `${native} loaded but the 'tensorflow' backend did not start`
          : `backend 'tensorflow' needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (npm install one of them); use --backend wasm or auto otherwise`,
      );
    }
  }
  if (choice === 'wasm' || choice === 'auto') {
    try {
      if (await activate('wasm')) return 'wasm';
    } catch (error) {
      if (choice === 'wasm') throw new BackendError(`the wasm backend failed to start: ${(error as Error).message}`);
    }
    if (choice === 'wasm') throw new BackendError('the wasm backend failed to start');
  }
  if (await activate('cpu')) return 'cpu';
  throw new BackendError('the cpu backend failed to start');
}

export { tf };
