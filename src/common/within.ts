/**
 * A bound on a wait: `promise`'s value, or undefined when `ms` passed first. A rejection in time
 * is passed on; one after the bound is handled (never thrown). The timer is cleared either way.
 * What `promise` does after the bound is the caller's to ignore or clean up.
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    // The race handles `promise`'s rejection whenever it comes.
    return await Promise.race([promise.then((value) => ({ value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
