// Child process for the cross-process append test: appends `count` synthetic lines with serials
// `${prefix}-i` to the batch given on the command line. Run with `node --import tsx`.
import { appendBatchEntry } from '../../provisioning/factory/batch-file.ts';

const [batch, prefix, countText] = process.argv.slice(2);
const count = Number(countText);
for (let i = 0; i < count; i++) {
  const ek = Buffer.alloc(40);
  ek.write(`${prefix}-${i}`);
  await appendBatchEntry(batch!, {
    serial: `${prefix}-${i}`,
    board: 'rpi4',
    ekPublic: ek.toString('hex'),
    ekCertificate: Buffer.from(`cert ${prefix}-${i}`).toString('base64'),
    sealingPublic: 'abcd'.repeat(50),
  });
}
