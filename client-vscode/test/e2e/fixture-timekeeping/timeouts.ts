/** Timeouts as people write them in config files: "90s", "1h30m", "2m". */

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000 };

/** Turn a time span such as "1h30m" or "45s" into a number of milliseconds. */
export function parseTimeout(text: string): number {
  let total = 0;
  for (const [, amount, unit] of text.toLowerCase().matchAll(/(\d+)\s*([hms])/g)) {
    total += Number(amount) * (UNIT_MS[unit ?? 's'] ?? 0);
  }
  if (total === 0) {
    throw new Error(`not a timeout: ${text}`);
  }
  return total;
}

/** Give up on a promise that takes longer than the timeout. */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
