// Key files are read through their reader: ERR_PROV_KEY_FILE naming what is wrong.
import { describe, expect, it } from 'vitest';
import { generateEd25519, KEY_FILE_FORMAT, parseKeyFile } from '../../provisioning/keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';

const { key, seed } = generateEd25519();
const good = { format: KEY_FILE_FORMAT, publicKey: toHex(key.publicKey), privateKey: toHex(seed) };

function refusal(doc: unknown): string {
  try {
    parseKeyFile(typeof doc === 'string' ? doc : JSON.stringify(doc), 'root.key');
  } catch (err) {
    return `${(err as { code: string }).code} ${(err as Error).message}`;
  }
  return 'accepted';
}

describe('parseKeyFile', () => {
  it('reads a key file, with or without its public key, and ignores notes kept beside it', () => {
    expect(toHex(parseKeyFile(JSON.stringify(good)).key.publicKey)).toBe(good.publicKey);
    expect(toHex(parseKeyFile(JSON.stringify({ format: KEY_FILE_FORMAT, privateKey: good.privateKey, note: 'root, 2026' })).seed)).toBe(good.privateKey);
  });

  it('refuses anything else, naming the field', () => {
    expect(refusal('{')).toBe('ERR_PROV_KEY_FILE root.key is not JSON');
    expect(refusal(' '.repeat(5000))).toBe('ERR_PROV_KEY_FILE root.key is 5000 bytes, at most 4096');
    expect(refusal([good])).toBe('ERR_PROV_KEY_FILE root.key: expected object');
    expect(refusal({ ...good, format: 'x' })).toBe(`ERR_PROV_KEY_FILE root.key is not a ${KEY_FILE_FORMAT} key file`);
    expect(refusal({ ...good, privateKey: good.privateKey.toUpperCase() })).toBe('ERR_PROV_KEY_FILE root.key.privateKey: expected lowercase hex of 32 bytes');
    expect(refusal({ ...good, publicKey: '00'.repeat(32) })).toBe('ERR_PROV_KEY_FILE root.key: publicKey does not belong to privateKey');
  });
});
