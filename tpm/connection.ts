// One ESYS context over one TCTI, with the rules every caller relies on:
// - commands run one at a time (an ESYS context must never be used by two calls at once);
// - they run on a worker thread, so a slow TPM never blocks the event loop;
// - a TPM that is busy (TPM_RC_RETRY, YIELDED, TESTING, NV_RATE) is retried with backoff;
// - a TPM that went away (swtpm restarted, bus error) is reconnected before one more try;
// - a TPM that was reset without TPM2_Startup gets Startup(CLEAR).
import { TPM_SU } from './constants.ts';
import { TpmError, TpmRcError } from './errors.ts';
import { baseTpmRc, TPM_RC } from './rc.ts';
import { startup, type EsysContext } from './esys.ts';
import { tss2, type NativePointer } from './ffi.ts';
import { parseTcti } from './tcti.ts';
import { backoffCeiling } from '../firmware/core/backoff.ts';
import { systemClock } from '../firmware/core/clock.ts';

export interface ConnectionOptions {
  readonly tcti: string;
  /** How long to wait for the TCTI to reach a TPM (default 2000 ms). */
  readonly connectTimeoutMs?: number;
  /** Response timeout handed to ESYS (default 60 s: real TPMs take seconds to make an RSA key). */
  readonly commandTimeoutMs?: number;
  /** Attempts for retryable TPM warnings (default 6, backoff 10 ms doubling, capped at 1 s). */
  readonly retryAttempts?: number;
  /** Waits between attempts; injected by tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called whenever the context is (re)opened, so callers drop cached ESYS handles. */
  readonly onReconnect?: () => void;
  /** Called when the TPM no longer knows a handle or session the caller cached (see attempt()). */
  readonly onStaleReference?: (c: EsysContext) => Promise<void>;
}

interface Native {
  readonly esys: [NativePointer | null];
  readonly tcti: [NativePointer | null];
  readonly context: EsysContext;
}

export class TpmConnection {
  private native: Native | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly options: ConnectionOptions) {
    parseTcti(options.tcti);
    this.sleep = options.sleep ?? systemClock.sleep;
  }

  get tcti(): string {
    return this.options.tcti;
  }

  /** Open the context now (otherwise the first command opens it). */
  async open(): Promise<void> {
    await this.run('open', async () => undefined);
  }

  /** Run `task` alone on the context; see the class comment for retries. */
  run<T>(what: string, task: (c: EsysContext) => Promise<T>): Promise<T> {
    const result = this.queue.then(() => this.attempt(what, task));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.queue;
    this.closed = true;
    this.release();
  }

  private async attempt<T>(what: string, task: (c: EsysContext) => Promise<T>): Promise<T> {
    const attempts = this.options.retryAttempts ?? 6;
    let reconnected = false;
    let startedUp = false;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const context = await this.context(what);
      try {
        return await task(context);
      } catch (err) {
        if (!(err instanceof TpmRcError)) throw err;
        if ((err.info.unreachable || err.info.contextBroken) && !reconnected) {
          // The link broke under us (swtpm restarted, resource manager gone), or a failed
          // command left ESYS mid-sequence: reopen once.
          reconnected = true;
          this.release();
          continue;
        }
        if (err.info.needsStartup && !startedUp) {
          startedUp = true;
          await startup(context, TPM_SU.CLEAR);
          continue;
        }
        if (isStaleReference(err) && !refreshed) {
          // A handle or session cached on this context is gone from the TPM (evicted or cleared by
          // another tool, or the TPM was reset behind a TCTI that reconnects per command, as
          // swtpm's does): forget the cached handles and sessions and try once more.
          refreshed = true;
          await this.options.onStaleReference?.(context);
          continue;
        }
        if (err.retryable && attempt < attempts) {
          // No jitter: the retries wait on one local TPM, not on a server a fleet shares.
          await this.sleep(backoffCeiling(attempt - 1, 10, 1000));
          continue;
        }
        throw err;
      }
    }
  }

  private async context(what: string): Promise<EsysContext> {
    if (this.closed) throw new TpmError('ERR_TPM_CLOSED', `${what}: TPM context for "${this.tcti}" is closed`);
    if (this.native) return this.native.context;
    this.native = await this.connect();
    this.options.onReconnect?.();
    return this.native.context;
  }

  private async connect(): Promise<Native> {
    const lib = tss2();
    const tcti: [NativePointer | null] = [null];
    const timeoutMs = this.options.connectTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const init = lib.tctiInitialize(this.tcti, tcti);
    const rc = await Promise.race([
      init,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new TpmError('ERR_TPM_UNREACHABLE', `no TPM answered at TCTI "${this.tcti}" within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (timedOut) {
      // The loader may still succeed later; release what it opens then.
      void init.then((late) => (late === 0 ? lib.tctiFinalize(tcti) : undefined));
    }
    if (rc !== 0) {
      throw new TpmError('ERR_TPM_UNREACHABLE', `cannot reach a TPM at TCTI "${this.tcti}": ${lib.decodeRc(rc)} (rc 0x${rc.toString(16)})`);
    }
    const esys: [NativePointer | null] = [null];
    const erc = lib.esys('Initialize', esys, tcti[0], null);
    if (erc !== 0) {
      lib.tctiFinalize(tcti);
      throw new TpmRcError(erc, 'Esys_Initialize', lib.decodeRc(erc), this.tcti);
    }
    lib.esys('SetTimeout', esys[0], this.options.commandTimeoutMs ?? 60_000);
    const native: Native = {
      esys,
      tcti,
      context: {
        ctx: esys[0]!,
        tcti: this.tcti,
        timeoutMs: this.options.commandTimeoutMs ?? 60_000,
        abandon: (pending) => {
          if (this.native !== native) return;
          this.native = null;
          // Release the context once the blocked call comes back (the TPM answers or the link drops).
          void pending.finally(() => {
            lib.esys('Finalize', native.esys);
            lib.tctiFinalize(native.tcti);
          });
        },
      },
    };
    return native;
  }

  private release(): void {
    const native = this.native;
    this.native = null;
    if (!native) return;
    const lib = tss2();
    lib.esys('Finalize', native.esys);
    lib.tctiFinalize(native.tcti);
  }
}

/** TPM_RC_HANDLE (format 1) or TPM_RC_REFERENCE_H0..H6 / S0..S6 (0x910..0x91E), TPM2 Part 2 §6.6.3. */
function isStaleReference(err: TpmRcError): boolean {
  if (err.info.layer !== 0) return false;
  const code = err.rc & 0xfff;
  return baseTpmRc(err.rc) === TPM_RC.HANDLE || (code >= 0x910 && code <= 0x91e);
}
