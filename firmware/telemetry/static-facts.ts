// Static facts read once at start, asynchronously: the hardware model for Home Assistant's device
// card. Read from the device tree (ARM boards: "Raspberry Pi 4 Model B Rev 1.4") or DMI (PCs,
// VMs). systeminformation's system() was measured blocking the event loop for up to ~24 ms (it
// also reads files synchronously), so it is not used.
import { join } from 'node:path';
import { readSmall } from './proc-readers.ts';

export interface StaticFacts {
  /** Hardware model, or null when neither the device tree nor DMI names one. */
  readonly hardware: string | null;
}

const clean = (t: string | null): string => (t ?? '').replace(/\0/g, '').replace(/[^\x20-\x7e]/g, ' ').trim();

export async function readStaticFacts(options: { readonly procRoot?: string; readonly sysRoot?: string } = {}): Promise<StaticFacts> {
  const proc = options.procRoot ?? '/proc';
  const sys = options.sysRoot ?? '/sys';
  const dt = clean(await readSmall(join(proc, 'device-tree/model')));
  if (dt !== '') return { hardware: dt.slice(0, 100) };
  const [vendor, product] = await Promise.all([readSmall(join(sys, 'class/dmi/id/sys_vendor')), readSmall(join(sys, 'class/dmi/id/product_name'))]);
  const both = [clean(vendor), clean(product)].filter((x) => x !== '' && x !== 'Default string' && x !== 'To be filled by O.E.M.').join(' ');
  return { hardware: both === '' ? null : both.slice(0, 100) };
}
