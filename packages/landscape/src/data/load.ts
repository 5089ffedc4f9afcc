import type { DataSource, DatasetName } from '@hessweep/grid';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { loadFeatures } from './features.js';
import { loadFashionMnist, loadMnist } from './mnist.js';
import { synthetic } from './synthetic.js';
import { DataError, type Dataset } from './types.js';

export const SYNTHETIC_DEFAULT_DIM = 32;
export const SYNTHETIC_DEFAULT_CLASSES = 4;
/** Fixed rather than the cell seed, so that every cell of a sweep sees the same synthetic data. */
export const SYNTHETIC_DATA_SEED = 0x626c6f62;

/** The first `sampleSize` samples of a dataset, from the files or package that `source` points to. */
export async function loadDataset(name: DatasetName, source: DataSource, sampleSize: number): Promise<Dataset> {
  if (!Number.isInteger(sampleSize) || sampleSize < 1) {
    throw new RangeError(`sample_size must be a positive integer, got ${sampleSize}`);
  }
  switch (name) {
    case 'mnist':
      return loadMnist(source.data_dir, sampleSize);
    case 'fashion_mnist':
      return loadFashionMnist(source.data_dir, sampleSize);
    case 'cifar10':
      return loadCifar10(
        required(source.data_dir, 'cifar10 needs data_dir (the directory with data_batch_1.bin … data_batch_5.bin)'),
        sampleSize,
      );
    case 'cifar100':
      return loadCifar100(required(source.data_dir, 'cifar100 needs data_dir (the directory with train.bin)'), sampleSize);
    case 'features':
      return loadFeatures(
        required(source.features_path, 'features needs features_path (an Arrow or CSV file)'),
        sampleSize,
        source.label_column,
      );
    case 'synthetic':
      return synthetic(
        sampleSize,
        source.synthetic_dim ?? SYNTHETIC_DEFAULT_DIM,
        source.synthetic_classes ?? SYNTHETIC_DEFAULT_CLASSES,
        SYNTHETIC_DATA_SEED,
      );
  }
}

function required(value: string | undefined, message: string): string {
  if (value === undefined) throw new DataError(message);
  return value;
}
