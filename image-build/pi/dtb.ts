// The Raspberry Pi's device tree and boot text files, for an image built from Debian's packages.
// Debian's kernel DTBs carry no __symbols__ and raspi-firmware ships no .dtbo files, so the
// firmware's `dtoverlay=tpm-slb9670` has nothing to apply and nothing to apply it to. Instead the
// overlay (our own source, tpm-slb9670.dts, addressed by target-path) is compiled with
// `dtc -@` and merged into each board DTB with `fdtoverlay` here, at build time; config.txt then
// names the merged DTB with `device_tree=`. Needs device-tree-compiler (dtc, fdtoverlay, fdtget).
import { execFile } from 'node:child_process';
import { mkdir, open, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BoardConfig } from '../../firmware/board/index.ts';
import { PiBuildError, stderrTail } from './errors.ts';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const FDT_MAGIC = 0xd00dfeed; // Devicetree Specification v0.4 §5.2: the header's first word
const MAX_DTB_BYTES = 4 * 1024 * 1024;

/** Where the SLB9670 sits in the BCM283x/BCM2711 tree (same path in the Pi 3 and Pi 4 DTBs). */
export const SPI0_PATH = '/soc/spi@7e204000';
export const TPM_NODE_PATH = `${SPI0_PATH}/tpm@1`;

/** One DTB of a board, and the config.txt conditional filter that selects it. */
export interface PiDtb {
  /** config.txt filter section ([pi3], [pi3+], [pi4]); later sections win where both match. */
  readonly filter: string;
  /** File name in Debian's kernel package (usr/lib/linux-image-<abi>/[broadcom/]). */
  readonly dtb: string;
}

// Per board, the Debian DTBs its image carries. The board schema has no field for this (yet);
// the Pi 5 has no DTB in Debian 12's kernel at all.
const PI_BOARD_DTBS: Readonly<Record<string, readonly PiDtb[]>> = {
  rpi3: [
    { filter: 'pi3', dtb: 'bcm2837-rpi-3-b.dtb' },
    { filter: 'pi3+', dtb: 'bcm2837-rpi-3-b-plus.dtb' },
  ],
  rpi4: [{ filter: 'pi4', dtb: 'bcm2711-rpi-4-b.dtb' }],
};

export function piDtbs(board: Pick<BoardConfig, 'name' | 'boot'>): readonly PiDtb[] {
  const dtbs = PI_BOARD_DTBS[board.name];
  if (dtbs === undefined) {
    throw new PiBuildError('ERR_PI_BOARD', `board ${board.name}: no Debian device tree to merge the TPM overlay into (known: ${Object.keys(PI_BOARD_DTBS).join(', ')}). ${board.boot.notes}`, { board: board.name });
  }
  return dtbs;
}

/** The overlay source shipped here for a name in boot.mergeOverlays. */
export function overlaySource(name: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(name)) throw new PiBuildError('ERR_PI_OVERLAY', `overlay name ${JSON.stringify(name)} is not a plain name`, { overlay: name });
  return join(HERE, `${name}.dts`);
}

async function tool(cmd: string, args: readonly string[], code: 'ERR_PI_OVERLAY' | 'ERR_PI_MERGE' | 'ERR_PI_CHECK', what: string): Promise<string> {
  try {
    return (await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PiBuildError('ERR_PI_TOOL', `${cmd} not found: install Debian's device-tree-compiler`, { tool: cmd }, { cause: err });
    }
    throw new PiBuildError(code, `${what}: ${stderrTail(err)}`, { tool: cmd, args }, { cause: err });
  }
}

/** Compiles an overlay source to a .dtbo; -@ keeps its own labels resolvable (__local_fixups__). */
export async function compileOverlay(source: string, outDtbo: string): Promise<string> {
  try {
    await stat(source);
  } catch (err) {
    throw new PiBuildError('ERR_PI_OVERLAY', `overlay source ${source} cannot be read: ${(err as Error).message}`, { file: source }, { cause: err });
  }
  await tool('dtc', ['-@', '-q', '-I', 'dts', '-O', 'dtb', '-o', outDtbo, source], 'ERR_PI_OVERLAY', `dtc refused the overlay ${source}`);
  return outDtbo;
}

/** Checks that a file is a flattened device tree of sane size before fdtoverlay sees it. */
export async function assertDtb(file: string): Promise<void> {
  let size: number;
  const header = Buffer.alloc(4);
  try {
    size = (await stat(file)).size;
    const fh = await open(file, 'r');
    try {
      await fh.read(header, 0, 4, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new PiBuildError('ERR_PI_DTB', `base DTB ${file} cannot be read: ${(err as Error).message}`, { file }, { cause: err });
  }
  if (size < 40 || size > MAX_DTB_BYTES || header.readUInt32BE(0) !== FDT_MAGIC) {
    throw new PiBuildError('ERR_PI_DTB', `${file} is not a device tree blob (${size} bytes, magic 0x${header.toString('hex')}, want 0x${FDT_MAGIC.toString(16)})`, { file, size });
  }
}

/** fdtoverlay: the base DTB with every overlay applied, written to outDtb. */
export async function mergeOverlays(baseDtb: string, dtbos: readonly string[], outDtb: string): Promise<string> {
  await assertDtb(baseDtb);
  await mkdir(dirname(outDtb), { recursive: true });
  await tool('fdtoverlay', ['-i', baseDtb, '-o', outDtb, ...dtbos], 'ERR_PI_MERGE', `fdtoverlay could not apply ${dtbos.map((d) => basename(d)).join(', ')} to ${baseDtb}`);
  return outDtb;
}

export interface TpmNode {
  readonly compatible: readonly string[];
  readonly reg: number;
  readonly spiMaxFrequency: number;
  readonly spiStatus: string;
  readonly spiPinctrl: boolean;
}

/** Reads the SLB9670 node back out of a merged DTB with fdtget; null when it is not there. */
export async function readTpmNode(dtb: string): Promise<TpmNode | null> {
  const nodes = await tool('fdtget', ['-l', dtb, SPI0_PATH], 'ERR_PI_CHECK', `${dtb} has no ${SPI0_PATH}`);
  if (!nodes.split('\n').includes('tpm@1')) return null;
  const get = (path: string, prop: string, type: string): Promise<string> => tool('fdtget', ['-t', type, dtb, path, prop], 'ERR_PI_CHECK', `${dtb}: ${path} ${prop}`).then((s) => s.trim());
  const props = (await tool('fdtget', ['-p', dtb, SPI0_PATH], 'ERR_PI_CHECK', `${dtb}: ${SPI0_PATH}`)).split('\n');
  return {
    compatible: (await get(TPM_NODE_PATH, 'compatible', 's')).split(' '),
    reg: Number(await get(TPM_NODE_PATH, 'reg', 'u')),
    spiMaxFrequency: Number(await get(TPM_NODE_PATH, 'spi-max-frequency', 'u')),
    spiStatus: await get(SPI0_PATH, 'status', 's'),
    spiPinctrl: props.includes('pinctrl-0'),
  };
}

/** Throws unless the merged DTB holds an enabled SPI0 with the SLB9670 on CE1. */
export async function checkSlb9670(dtb: string): Promise<TpmNode> {
  const tpm = await readTpmNode(dtb);
  if (tpm === null || !tpm.compatible.includes('infineon,slb9670') || tpm.reg !== 1 || tpm.spiStatus !== 'okay' || !tpm.spiPinctrl) {
    throw new PiBuildError('ERR_PI_CHECK', `${dtb}: no enabled SLB9670 at ${TPM_NODE_PATH} after the merge (${JSON.stringify(tpm)})`, { file: dtb, tpm });
  }
  return tpm;
}

/** Finds a DTB by name under an extracted Debian kernel package (arm64: broadcom/, armhf: flat). */
export async function findDebianDtb(kernelRoot: string, name: string): Promise<string> {
  const lib = join(kernelRoot, 'usr/lib');
  const dirs = (await readdir(lib).catch(() => [] as string[])).filter((d) => d.startsWith('linux-image-'));
  for (const d of dirs) {
    for (const candidate of [join(lib, d, 'broadcom', name), join(lib, d, name)]) {
      if (await stat(candidate).then(() => true, () => false)) return candidate;
    }
  }
  throw new PiBuildError('ERR_PI_DTB', `${name} not found under ${lib}/linux-image-*/`, { kernelRoot, dtb: name });
}

export interface MergedDtb extends PiDtb {
  /** File name of the merged DTB on the boot partition. */
  readonly merged: string;
  readonly path: string;
}

/**
 * Merges the board's boot.mergeOverlays into each of its Debian DTBs (found under kernelRoot, an
 * extracted linux-image package) and writes them to outDir as btn-tpm-<dtb>. A distinct name:
 * Debian's raspi-firmware hook copies the stock DTBs onto the boot partition on every kernel
 * update and would overwrite a merged file of the same name.
 */
export async function buildPiDtbs(o: { board: BoardConfig; kernelRoot: string; outDir: string; workDir: string }): Promise<MergedDtb[]> {
  const dtbs = piDtbs(o.board);
  await mkdir(o.workDir, { recursive: true });
  const dtbos: string[] = [];
  for (const name of o.board.boot.mergeOverlays) dtbos.push(await compileOverlay(overlaySource(name), join(o.workDir, `${name}.dtbo`)));
  const out: MergedDtb[] = [];
  for (const d of dtbs) {
    const merged = `btn-tpm-${d.dtb}`;
    const path = await mergeOverlays(await findDebianDtb(o.kernelRoot, d.dtb), dtbos, join(o.outDir, merged));
    if (o.board.boot.mergeOverlays.includes('tpm-slb9670')) await checkSlb9670(path);
    out.push({ ...d, merged, path });
  }
  return out;
}

export interface PiBootText {
  /** Kernel and initrd file names on the boot partition. */
  readonly kernel: string;
  readonly initrd: string;
  readonly dtbs: readonly Pick<MergedDtb, 'filter' | 'merged'>[];
  /** ext4 label of the root file system (image-build/build.ts uses btnroot). */
  readonly rootLabel?: string;
  /** Instead of root=LABEL=: the words that tie an A/B boot slot to its root slot (root=PARTUUID=…, rauc.slot=…). */
  readonly slotWords?: readonly string[];
  /** Kernel consoles; Debian's raspi-firmware picks ttyS1 (the mini UART on GPIO 14/15) for Pi 3/4. */
  readonly consoles?: readonly string[];
}

const FILE_NAME = /^[\w.+-]{1,80}$/;

/** config.txt for the Pi firmware, from the board config: its lines minus the merged dtoverlays. */
export function piConfigTxt(board: BoardConfig, t: PiBootText): string {
  for (const n of [t.kernel, t.initrd, ...t.dtbs.map((d) => d.merged)]) {
    if (!FILE_NAME.test(n)) throw new PiBuildError('ERR_PI_BOARD', `boot file name ${JSON.stringify(n)} is not a plain FAT file name`, { name: n });
  }
  return [
    `# Raspberry Pi firmware configuration for ${board.name}, written by btn-node's image build.`,
    `# The overlays ${board.boot.mergeOverlays.join(', ') || '(none)'} are merged into the DTB named by device_tree=:`,
    '# Debian\'s DTBs have no __symbols__, so dtoverlay= could not apply them at boot.',
    ...(board.arch === 'arm64' ? ['arm_64bit=1'] : []),
    'upstream_kernel=1',
    'enable_uart=1',
    `kernel=${t.kernel}`,
    `initramfs ${t.initrd} followkernel`,
    'cmdline=cmdline.txt',
    piConfigCustom(board, t.dtbs),
  ].join('\n');
}

/**
 * The board's own config.txt lines and the device_tree= sections: also what the image puts in
 * /etc/default/raspi-firmware-custom, which raspi-firmware's kernel hook appends to the
 * config.txt it regenerates on every kernel update.
 */
export function piConfigCustom(board: BoardConfig, dtbs: PiBootText['dtbs']): string {
  const merged = new Set(board.boot.mergeOverlays);
  // A merged overlay applied again by the firmware (were a .dtbo ever added) would clash with itself.
  const lines = board.boot.configTxt.filter((l) => !(l.startsWith('dtoverlay=') && merged.has(l.slice('dtoverlay='.length).split(',')[0] ?? '')));
  return [...lines, ...dtbs.flatMap((d) => [`[${d.filter}]`, `device_tree=${d.merged}`]), '[all]', ''].join('\n');
}

export function piCmdline(t: Pick<PiBootText, 'rootLabel' | 'consoles' | 'slotWords'>): string {
  const label = t.rootLabel ?? 'btnroot';
  const consoles = t.consoles ?? ['tty0', 'ttyS1,115200'];
  if (!/^[\w-]{1,16}$/.test(label)) throw new PiBuildError('ERR_PI_BOARD', `root label ${JSON.stringify(label)} is not an ext4 label`, { label });
  for (const c of consoles) if (!/^[\w,]{1,40}$/.test(c)) throw new PiBuildError('ERR_PI_BOARD', `console ${JSON.stringify(c)} is not a console name`, { console: c });
  for (const w of t.slotWords ?? []) if (!/^(root=PARTUUID=[0-9a-f]{8}-0[1-7]|rauc\.slot=[AB])$/.test(w)) throw new PiBuildError('ERR_PI_BOARD', `slot word ${JSON.stringify(w)} is not root=PARTUUID=… or rauc.slot=A|B`, { word: w });
  // An A/B slot on trial must reset when it cannot boot (kernel panic, initramfs without its root):
  // the firmware then boots the committed slot.
  const root = t.slotWords ? `${t.slotWords.join(' ')} panic=10` : `root=LABEL=${label}`;
  return `${consoles.map((c) => `console=${c}`).join(' ')} ${root} rootfstype=ext4 rootwait fsck.repair=yes\n`;
}

/** Writes config.txt and cmdline.txt into the boot partition's staging directory. */
export async function writePiBootText(dir: string, board: BoardConfig, t: PiBootText): Promise<{ configTxt: string; cmdlineTxt: string }> {
  const configTxt = piConfigTxt(board, t);
  const cmdlineTxt = piCmdline(t);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.txt'), configTxt);
  await writeFile(join(dir, 'cmdline.txt'), cmdlineTxt);
  return { configTxt, cmdlineTxt };
}
