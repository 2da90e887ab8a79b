import { rm } from 'node:fs/promises';

export default async function globalTeardown(): Promise<void> {
  await globalThis.__crdbTestPostgres?.stop();
  await globalThis.__crdbTestDynalite?.close();
  const root = process.env.CRDB_TEST_ROOT;
  if (root) await rm(root, { recursive: true, force: true });
}
