// A whole batch filed at once on top of the store's batch writer: open, file every device,
// commit; any failure rolls back and leaves nothing filed.
import type { BatchInput, FileOutcome, NewDevice, ProvisioningStore } from './types.ts';

export async function fileWholeBatch(store: Pick<ProvisioningStore, 'openBatch'>, batch: BatchInput, devices: readonly NewDevice[]): Promise<FileOutcome[]> {
  const { lineCount, rejected, ...opening } = batch;
  const writer = await store.openBatch(opening);
  try {
    const outcomes = await writer.file(devices);
    await writer.commit({ lineCount, rejected });
    return outcomes;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
