// Progress of a byte stream (batch upload): a bar redrawn at most 10 times a second on a
// terminal; on anything else one plain line per 10%, so logs never fill with carriage returns.
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export function byteProgress(total: number, stream: ProgressStream, label: string, clock: () => number = Date.now): { advance(bytes: number): void; done(): void } {
  let sent = 0;
  let lastDraw = 0;
  let lastDecile = -1;
  const tty = stream.isTTY === true;
  const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 40));
  const mib = (n: number): string => (n / 1048576).toFixed(1);
  const draw = (): void => {
    const frac = total === 0 ? 1 : Math.min(1, sent / total);
    if (tty) {
      const filled = Math.round(frac * width);
      stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(frac * 100)}% ${mib(sent)}/${mib(total)} MiB\x1b[K`);
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        stream.write(`${label} ${decile * 10}% (${sent}/${total} bytes)\n`);
      }
    }
  };
  return {
    advance(bytes: number): void {
      sent += bytes;
      const now = clock();
      if (!tty || now - lastDraw >= 100 || sent >= total) {
        lastDraw = now;
        draw();
      }
    },
    done(): void {
      draw();
      if (tty) stream.write('\n');
    },
  };
}
