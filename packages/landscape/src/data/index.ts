export type { Dataset } from './types.js';
export { DataError } from './types.js';
export { loadDataset, SYNTHETIC_DATA_SEED, SYNTHETIC_DEFAULT_CLASSES, SYNTHETIC_DEFAULT_DIM } from './load.js';
export { loadIdxPair } from './idx.js';
export { loadMnist, loadFashionMnist, FASHION_MNIST_DIR } from './mnist.js';
export { loadCifar10, loadCifar100 } from './cifar.js';
export { loadFeatures } from './features.js';
export { synthetic } from './synthetic.js';
