// What a call refused, as one comparable line: the error's code and message, or 'accepted'.
export function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return `${(err as { code: string }).code} ${(err as Error).message}`;
  }
  return 'accepted';
}
