export type { CellTask, Delivery, Queue, ResultDelivery } from './types.js';
export { InProcessQueue } from './memory.js';
