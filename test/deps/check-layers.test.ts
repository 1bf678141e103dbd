// The layer check itself: it finds a wrong-way import and a cycle in a tree made for it, and the
// project's own tree has neither.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLayers, DEVICE_ENTRY, importsOf, layerOf } from './check-layers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'btn-layers-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('dependency rules', () => {
  it('reports a wrong-way import (protocol reaching into the device, core reaching into tpm)', () => {
    const root = tree({
      'firmware/core/bytes.ts': "import { x } from '../../tpm/tpm.ts';\nexport const y = x;\n",
      'firmware/protocol/lottery.ts': "import type { Agent } from '../agent/agent.ts';\nexport type A = Agent;\n",
      'firmware/agent/agent.ts': 'export interface Agent { readonly id: string }\n',
      'tpm/tpm.ts': 'export const x = 1;\n',
    });
    const found = checkLayers(root).map((v) => v.message);
    expect(found).toContain('firmware/core/bytes.ts -> tpm/tpm.ts: layer core may not import layer tpm');
    expect(found).toContain('firmware/protocol/lottery.ts -> firmware/agent/agent.ts: layer protocol may not import layer device');
  });

  it('reports the device importing the devnet, the registrar or the swtpm launcher, also through a dynamic import', () => {
    const root = tree({
      'firmware/cli/run.ts': "export const run = async () => (await import('../devnet/devnet.ts')).go;\n",
      'firmware/agent/a.ts': "import { openStore } from '../../provisioning/store.ts';\nimport { startSwtpm } from '../../tpm/swtpm.ts';\nexport { openStore, startSwtpm };\n",
      'firmware/devnet/devnet.ts': 'export const go = 1;\n',
      'provisioning/store.ts': 'export const openStore = 1;\n',
      'tpm/swtpm.ts': 'export const startSwtpm = 1;\n',
    });
    const kinds = checkLayers(root).map((v) => v.message.split(': ')[1]);
    expect(kinds).toEqual(expect.arrayContaining(['layer device may not import layer devnet', 'layer device may not import layer registrar', 'layer device may not import layer swtpm']));
  });

  it('reports the device bundle reaching the swtpm launcher through the binding\'s index, with the path, once per way in', () => {
    // the layout before the move: tpm/index.ts re-exported the launcher
    const root = tree({
      'firmware/cli/device-main.ts': "import { run } from './run.ts';\nexport const main = run;\n",
      'firmware/cli/run.ts': "import type { Tpm } from '../../tpm/index.ts';\nimport { openTpm } from '../../tpm/index.ts';\nexport const run = (t: Tpm) => openTpm(t);\n",
      'tpm/index.ts': "export { startSwtpm } from './swtpm.ts';\nexport type { SwtpmOptions } from './swtpm.ts';\nexport type Tpm = number;\nexport const openTpm = (t: Tpm) => t;\n",
      'tpm/swtpm.ts': 'export const startSwtpm = 1;\nexport type SwtpmOptions = object;\n',
    });
    const found = checkLayers(root).map((v) => `${v.kind}: ${v.message}`);
    expect(found).toEqual([
      'layer: tpm/index.ts -> tpm/swtpm.ts: layer tpm may not import layer swtpm',
      'bundle: firmware/cli/device-main.ts -> firmware/cli/run.ts -> tpm/index.ts -> tpm/swtpm.ts: the device bundle may not carry layer swtpm',
    ]);
  });

  it('reports a cycle with its path, type-only imports included', () => {
    const root = tree({
      'firmware/agent/a.ts': "import type { B } from './b.ts';\nexport interface A { b: B }\n",
      'firmware/agent/b.ts': "import { c } from './c.ts';\nexport interface B { c: typeof c }\n",
      'firmware/agent/c.ts': "import type { A } from './a.ts';\nexport const c = 1 as unknown as A;\n",
    });
    const cycles = checkLayers(root).filter((v) => v.kind === 'cycle');
    expect(cycles).toHaveLength(1);
    expect(cycles[0]!.message).toMatch(/firmware\/agent\/(a|b|c)\.ts -> .* -> firmware\/agent\/(a|b|c)\.ts/);
  });

  it('reads static, re-export, side-effect and dynamic imports, and places files in their layers', () => {
    expect(importsOf("import a from './a.ts';\nexport { b } from '../b.ts';\nimport './c.ts';\nconst d = await import('./d.ts');\nimport e from 'pino';")).toEqual(['./a.ts', '../b.ts', './c.ts', './d.ts']);
    expect([layerOf('firmware/core/json.ts'), layerOf('firmware/protocol/chain/block.ts'), layerOf('tpm/swtpm.ts'), layerOf('firmware/cli/main.ts'), layerOf('firmware/cli/device-main.ts')])
      .toEqual(['core', 'protocol', 'swtpm', 'host-entry', 'device']);
  });

  it('the project tree has no wrong-way import, no cycle, no unresolved import and a clean device bundle', () => {
    // the bundle check looks from this entry; were it renamed, the check would pass on nothing
    expect(existsSync(join(ROOT, DEVICE_ENTRY))).toBe(true);
    expect(checkLayers(ROOT).map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
  });
});
