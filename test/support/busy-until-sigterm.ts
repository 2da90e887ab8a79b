/**
 * A stand-in for local mode whose event loop is busy most of the time (as local mode's is while
 * it loads a module or drains work on a loaded machine), for test/integration/local-headless.test.ts:
 * it prints `ready`, and on the first SIGINT/SIGTERM "drains" for 300 ms, prints `stopped` and exits 0. A launcher
 * that relays signals and kills a child that does not acknowledge them at once (the tsx CLI does,
 * after 2 × 30 ms, then exits 143) makes it exit otherwise.
 */
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => {
    process.stdout.write('stopped\n');
    process.exit(0);
  }, 300);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
/** Busy for 1 s, then yields for 5 ms, from the start. */
const busy = (): void => {
  const until = Date.now() + 1_000;
  while (Date.now() < until) {
    // Work that does not yield.
  }
  setTimeout(busy, 5);
};
process.stdout.write('ready\n');
busy();
