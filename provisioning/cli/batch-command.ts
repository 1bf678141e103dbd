// btn-provision batch sign --batch FILE --key FILE --manufacturer NAME      (writes FILE.sig)
// btn-provision batch verify --batch FILE --public-key HEX [--trust DIR]
// btn-provision batch upload --batch FILE --url URL [--signature FILE]
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../../firmware/core/atomic-write.ts';
import { ProvisioningError } from '../errors.ts';
import { parseHexKey, readKeyFile } from '../keys.ts';
import { checkManifestLine, isRejection, parseManifestLine } from '../manifest/line.ts';
import { splitLines } from '../manifest/lines.ts';
import { checkManufacturerName, parseSignatureFile, signManifest, verifyManifest } from '../manifest/signature.ts';
import { IntermediatePaths } from '../manifest/chain.ts';
import { TrustStore } from '../manifest/trust.ts';
import { parse, printJson, required, UsageError } from './args.ts';
import { byteProgress } from './progress.ts';
import { callRegistrar, registrarAt } from './registrar-call.ts';

const USAGE = `usage: btn-provision batch sign --batch FILE --key FILE --manufacturer NAME
       btn-provision batch verify --batch FILE --public-key HEX [--signature FILE] [--trust DIR]
       btn-provision batch upload --batch FILE --url URL [--signature FILE]`;

export async function batchCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'sign') return sign(rest);
  if (sub === 'verify') return verify(rest);
  if (sub === 'upload') return upload(rest);
  throw new UsageError(USAGE);
}

async function readManifest(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `cannot read batch ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

async function readSignature(path: string): Promise<ReturnType<typeof parseSignatureFile>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `cannot read signature file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'} (run "btn-provision batch sign" first)`);
  }
  return parseSignatureFile(text);
}

async function sign(argv: readonly string[]): Promise<number> {
  const a = parse(argv, { batch: { type: 'string' }, key: { type: 'string' }, manufacturer: { type: 'string' } }, USAGE);
  const batch = required(a.batch, '--batch', USAGE);
  const manufacturer = checkManufacturerName(required(a.manufacturer, '--manufacturer', USAGE));
  const key = await readKeyFile(required(a.key, '--key', USAGE));
  const manifest = await readManifest(batch);
  const sig = signManifest(manifest, key, manufacturer);
  await writeFileAtomic(`${batch}.sig`, JSON.stringify(sig) + '\n', { mode: 0o644 });
  printJson({ signatureFile: `${batch}.sig`, ...sig });
  return 0;
}

async function verify(argv: readonly string[]): Promise<number> {
  const a = parse(argv, { batch: { type: 'string' }, 'public-key': { type: 'string' }, signature: { type: 'string' }, trust: { type: 'string' } }, USAGE);
  const batch = required(a.batch, '--batch', USAGE);
  const publicKey = parseHexKey(required(a['public-key'], '--public-key', USAGE), 'public-key');
  const manifest = await readManifest(batch);
  const sig = await readSignature(a.signature ?? `${batch}.sig`);
  const result = verifyManifest(manifest, sig, publicKey);
  const trust = a.trust === undefined ? null : await TrustStore.fromDirectory(a.trust);
  const rejected: { line: number; code: string; reason: string }[] = [];
  let lines = 0;
  const now = Date.now();
  const paths = trust === null ? undefined : new IntermediatePaths(trust, now);
  for await (const raw of splitLines((async function* () { yield manifest; })())) {
    lines++;
    if ('tooLong' in raw) { rejected.push({ line: raw.line, code: 'ERR_LINE_TOO_LONG', reason: `line of ${raw.bytes} bytes is over the cap` }); continue; }
    const p = parseManifestLine(raw.text);
    const r = isRejection(p) || trust === null ? p : checkManifestLine(p, trust, now, paths);
    if (isRejection(r)) rejected.push({ line: raw.line, code: r.code, reason: r.reason });
  }
  printJson({ signature: result.ok ? 'valid' : 'INVALID', ...(result.ok ? {} : { reason: result.reason }), manufacturer: sig.manufacturer, lines, chainChecked: trust !== null, rejected });
  return result.ok && rejected.length === 0 ? 0 : 1;
}

async function upload(argv: readonly string[]): Promise<number> {
  const a = parse(argv, { batch: { type: 'string' }, url: { type: 'string' }, signature: { type: 'string' } }, USAGE);
  const batch = required(a.batch, '--batch', USAGE);
  const base = required(a.url, '--url', USAGE);
  const sig = await readSignature(a.signature ?? `${batch}.sig`);
  const size = (await stat(batch)).size;
  const client = registrarAt(base, USAGE);
  const progress = byteProgress(size, process.stderr, 'upload');
  const stream = createReadStream(batch);
  stream.on('data', (c) => progress.advance(c.length));
  const doc = await callRegistrar(() => client.uploadBatch({ manifest: { stream, size }, manufacturer: sig.manufacturer, signature: sig.signature }));
  progress.done();
  if (doc === null) return 1;
  const rejected = doc.results.filter((r) => r.status === 'rejected');
  printJson({ batchId: doc.batchId, manufacturer: doc.manufacturer, sha256: doc.sha256, lines: doc.lines, filed: doc.filed, duplicates: doc.duplicates, rejected: doc.rejected, rejectedLines: rejected });
  // 3: the batch was stored but some lines were refused (see rejectedLines)
  return rejected.length === 0 ? 0 : 3;
}
