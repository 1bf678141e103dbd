// Progress of long factory work: a redrawn bar on a terminal, one plain line per step
// otherwise (logs, CI, pipes), so a log file never fills with carriage returns.

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface Progress {
  /** One step finished; `note` says what (e.g. "SN-7 added"). */
  step(note: string): void;
  /** Ends the bar (newline on a terminal). */
  done(): void;
}

export function createProgress(total: number, stream: ProgressStream, label = 'enroll'): Progress {
  let count = 0;
  const tty = stream.isTTY === true;
  const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 50));
  const pad = String(total).length;
  return {
    step(note: string): void {
      count++;
      const counter = `${String(count).padStart(pad)}/${total}`;
      if (tty) {
        const filled = total === 0 ? width : Math.round((count / total) * width);
        const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
        // \x1b[K clears the rest of the line left over from a longer note.
        stream.write(`\r${label} [${bar}] ${counter} ${note.slice(0, 40)}\x1b[K`);
      } else {
        stream.write(`${label} ${counter} ${note}\n`);
      }
    },
    done(): void {
      if (tty) stream.write('\n');
    },
  };
}
