// The update's files in the agent's state directory (on the data partition, so both slots see
// them): the pending update (written durably before RAUC installs, read by the next boot's
// health check), the last outcome, the downgrade floor, and what the slots hold. Root writes
// them, world-readable, so the agent (another user) shows them on its status page.
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { boolean, integer, literal, nullable, object, oneOf, optional, parseJson, readWith, string, type Reader } from '../core/json.ts';
import { ACTIVATION_STATES, type ActivationStateName } from '../status/index.ts';
import { UpdateError } from './errors.ts';
import { VERSION_PATTERN } from './version.ts';

export const PENDING_FILE = 'update-pending.json';
export const OUTCOME_FILE = 'update-outcome.json';
export const FLOOR_FILE = 'update-floor.json';
export const SLOTS_FILE = 'update-slots.json';
const MAX_FILE_BYTES = 16 * 1024;
const FILE_MODE = 0o644;

/** What was true before an update: the next boot's health check holds the new slot to it. */
export interface PendingUpdate {
  readonly version: 1;
  readonly target: string;
  readonly from: { readonly version: string; readonly slot: string };
  /** This boot when the update was installed: the same boot later means no reboot happened yet. */
  readonly bootId: string;
  /** From status.json; null when no agent had written one. */
  readonly nodeId: string | null;
  readonly activation: ActivationStateName | null;
  /** The seal journal's slots, highest height decided and finalized height (status.json's chain.finalizedHeight). */
  readonly journal: { readonly entries: number; readonly highestHeight: number; readonly finalizedHeight: number } | null;
  readonly at: number;
  /** Set once `rauc install` returned: without it, back in the old slot means the install never finished. */
  readonly installed?: boolean;
}

export interface UpdateOutcome {
  readonly version: 1;
  /**
   * refused: an announced update root would not install (its file changed, RAUC refused it, ...);
   * interrupted: its install did not finish (a power cut while RAUC wrote the slot), so the old
   * slot runs on and the update may be taken again; rolled-back: the new slot ran and was left.
   */
  readonly kind: 'updated' | 'rolled-back' | 'interrupted' | 'refused';
  /** What the household reads: "updated to 0.3.0", "rolled back from 0.3.1: broker not connected". */
  readonly text: string;
  readonly target: string;
  readonly from: string;
  readonly at: number;
}

export interface SlotsRecord {
  readonly version: 1;
  readonly booted: { readonly slot: string | null; readonly version: string };
  readonly other: { readonly slot: string | null; readonly version: string | null; readonly bootStatus: string | null } | null;
  readonly at: number;
}

const versionText = string({ max: 64, pattern: VERSION_PATTERN, what: 'a semantic version' });
const slotName = string({ max: 16, pattern: /^[A-Za-z0-9._-]+$/, what: 'a slot name' });
const when = integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const count = integer({ min: -1, max: Number.MAX_SAFE_INTEGER });
const shortText = string({ max: 1024 });

const pendingReader: Reader<PendingUpdate> = object({
  version: literal(1),
  target: versionText,
  from: object({ version: versionText, slot: slotName }),
  bootId: string({ max: 64 }),
  nodeId: nullable(string({ max: 256 })),
  activation: nullable(oneOf(ACTIVATION_STATES)),
  journal: nullable(object({ entries: count, highestHeight: count, finalizedHeight: count })),
  at: when,
  installed: optional(boolean()),
});
const outcomeReader: Reader<UpdateOutcome> = object({
  version: literal(1), kind: oneOf(['updated', 'rolled-back', 'interrupted', 'refused'] as const), text: shortText, target: versionText, from: versionText, at: when,
});
const floorReader: Reader<{ readonly version: 1; readonly floor: string }> = object({ version: literal(1), floor: versionText });
const slotsReader: Reader<SlotsRecord> = object({
  version: literal(1),
  booted: object({ slot: nullable(slotName), version: versionText }),
  other: nullable(object({ slot: nullable(slotName), version: nullable(shortText), bootStatus: nullable(shortText) })),
  at: when,
});

export class UpdateFiles {
  constructor(readonly stateDir: string) {}

  readPending(): Promise<PendingUpdate | null> {
    return this.#read(PENDING_FILE, pendingReader);
  }

  /** Durable (fsync of the file and the directory): it must outlive the reboot into the new slot. */
  writePending(p: PendingUpdate): Promise<void> {
    return this.#write(PENDING_FILE, p);
  }

  async removePending(): Promise<void> {
    const path = join(this.stateDir, PENDING_FILE);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UpdateError('ERR_UPDATE_STATE', `cannot remove ${path}: ${(err as Error).message}`, { path }, { cause: err });
    }
  }

  readOutcome(): Promise<UpdateOutcome | null> {
    return this.#read(OUTCOME_FILE, outcomeReader);
  }

  writeOutcome(o: UpdateOutcome): Promise<void> {
    return this.#write(OUTCOME_FILE, o);
  }

  async readFloor(): Promise<string | null> {
    return (await this.#read(FLOOR_FILE, floorReader))?.floor ?? null;
  }

  writeFloor(floor: string): Promise<void> {
    return this.#write(FLOOR_FILE, { version: 1, floor });
  }

  readSlots(): Promise<SlotsRecord | null> {
    return this.#read(SLOTS_FILE, slotsReader);
  }

  writeSlots(s: SlotsRecord): Promise<void> {
    return this.#write(SLOTS_FILE, s);
  }

  async #read<T>(name: string, reader: Reader<T>): Promise<T | null> {
    const path = join(this.stateDir, name);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new UpdateError('ERR_UPDATE_STATE', `cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
    }
    const refuse = (e: Error): UpdateError => new UpdateError('ERR_UPDATE_STATE', `${path}: ${e.message}`, { path });
    let value: unknown;
    try {
      value = parseJson(bytes, MAX_FILE_BYTES, path);
    } catch (err) {
      throw refuse(err as Error);
    }
    return readWith(reader, value, name, refuse);
  }

  async #write(name: string, value: unknown): Promise<void> {
    const path = join(this.stateDir, name);
    try {
      await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', { mode: FILE_MODE });
    } catch (err) {
      throw new UpdateError('ERR_UPDATE_STATE', `cannot write ${path}: ${(err as Error).message}`, { path }, { cause: err });
    }
  }
}
