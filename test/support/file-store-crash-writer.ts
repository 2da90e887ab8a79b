/**
 * A process to kill -9 in the middle of a `FileSecretStore` write (test/unit/secrets-file.test.ts):
 * it creates one secret in the file named by its argument, and its committing rename never
 * happens. It prints `temp <path>` once the temp file holds every secret, then waits to be killed.
 */
import { FileSecretStore } from '../../lib/secrets/file-store';
import { secretName } from '../../lib/secrets/types';
import { databaseSecret } from '../contracts/secret-store-contract';

const [file] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: file-store-crash-writer <secrets.json>');
const store = new FileSecretStore({
  path: file,
  rename: (from) => {
    process.stdout.write(`temp ${from}\n`);
    return new Promise(() => undefined);
  },
});
setInterval(() => undefined, 60_000);
void store.create(secretName('dev', 'crashed'), databaseSecret({ username: 'crashed' }), { tags: { owner: 'U0CRASH', cluster: 'dev' } });
