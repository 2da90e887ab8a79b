/**
 * `npm start` end to end, the way a newcomer walks CockroachDB Cloud's "Connect to your cluster"
 * guide through the bot: the console is driven by scripted input, and every assertion is on what
 * it prints or on real connections to the embedded cluster with the credentials it DM'd.
 *
 * Step 1 ("before authorizing, the DM'd connection is refused") is proved literally: the network
 * request waits for approval while the user is created, so the DM'd URL exists before the
 * allowlist admits it; psql and node-postgres are then refused by pg_hba.conf, and accepted with
 * the very same URL once the approver has clicked.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from '../support/global-setup';
import { freshDataDir, LocalProcess } from '../support/local-process';

const CREATE_ACCOUNTS = 'CREATE TABLE accounts (id INT PRIMARY KEY, balance INT)';

let local: LocalProcess | undefined;
let data: Awaited<ReturnType<typeof freshDataDir>> | undefined;

afterAll(async () => {
  await local?.kill();
  await data?.remove();
});

/**
 * Runs `psql "<url>" -c <statement>` and checks its outcome. psql is optional (the issue asks for
 * it where installed); where it is missing this says so and node-postgres carries the step.
 */
function expectPsql(url: string, statement: string, expected: { succeeds: boolean; output: RegExp }): void {
  const result = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-c', statement], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, PGCONNECT_TIMEOUT: '5' } });
  if (result.error !== undefined && 'code' in result.error && result.error.code === 'ENOENT') {
    console.warn('psql is not installed: this step is checked through node-postgres only.');
    return;
  }
  const outcome = { succeeded: result.status === 0, output: `${result.stdout}${result.stderr}` };
  // The whole outcome in the failure message: psql's error says why.
  expect(outcome).toMatchObject({ succeeded: expected.succeeds });
  expect(outcome.output).toMatch(expected.output);
}

function psqlInstalled(): boolean {
  return spawnSync('psql', ['--version']).error === undefined;
}

async function nodePostgres<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('npm start: the "Connect to your cluster" walk-through through the console', () => {
  it('refuses the DM\'d connection until an approver authorizes 127.0.0.1, then psql and node-postgres create a table with it', async () => {
    data = await freshDataDir();
    const [port, pgPort, dynamoPort] = [await freePort(), await freePort(), await freePort()];
    local = LocalProcess.start({ args: ['--data-dir', data.dir, '--pg-port', String(pgPort), '--dynamo-port', String(dynamoPort)], env: { PORT: String(port) } });
    const caFile = path.join(data.dir, 'postgres', 'ca.crt');

    await local.waitFor(/You are dev \(U0LOCALDEV\)/, { timeoutMs: 45_000 });
    expect(local.output).toContain(`config         ${path.join(data.dir, 'config.yaml')}  (written now`);
    expect(local.output).toContain(`Slack endpoint http://localhost:${port}/slack/events`);

    // Step 2, first half: ask for the network; policy wants an approver.
    let mark = local.output.length;
    local.send('/crdb allow 127.0.0.1');
    await local.waitFor(/only visible to dev · crdb-chatops:\n\s+✋ This needs 1 approval in #db-approvers: allow `127\.0\.0\.1\/32` \(SQL\) on `local`/, { from: mark });
    const card = await local.waitFor(/\[#db-approvers\] crdb-chatops:\n\s+== Approval needed: allow a network on local ==[\s\S]*?\[(\d+) Approve\]\s+\[(\d+) Deny\]/, { from: mark });
    const approve = card[1] ?? '';

    // Step 3: the SQL user; the connection details arrive by DM with the local CA's path.
    mark = local.output.length;
    local.send('/crdb user create maxroach');
    await local.waitFor(/SQL user `maxroach` is ready on `local`; the connection details are in your DMs\./, { from: mark });
    // The URL leads; the CA's path follows the password.
    const dm = await local.waitFor(/\[DM dev\] crdb-chatops(?: \(edited\))?:\n\s+🔑[^\n]*\n\s+Connection URL\n\s+(postgresql:\/\/\S+)[\s\S]*?CA certificate: [^\n]*/, { from: mark });
    const url = dm[1] ?? '';
    expect(dm[0]).toContain(`CA certificate: the connection strings expect it at \`${caFile}\``);
    expect(url).toMatch(new RegExp(`^postgresql://maxroach:[A-Za-z0-9_-]{32}@localhost:${pgPort}/defaultdb\\?sslmode=verify-full&sslrootcert=`));
    expect(decodeURIComponent(new URL(url).searchParams.get('sslrootcert') ?? '')).toBe(caFile);

    // Step 1: not authorized yet, so the allowlist (pg_hba.conf) refuses the DM'd URL.
    expectPsql(url, CREATE_ACCOUNTS, { succeeds: false, output: /no pg_hba\.conf entry for host "127\.0\.0\.1", user "maxroach", database "defaultdb"/ });
    await expect(nodePostgres(url, (c) => c.query('SELECT 1'))).rejects.toThrow(/no pg_hba\.conf entry for host "127\.0\.0\.1", user "maxroach"/);

    // Step 2, second half: another person approves; the change propagates; "you can connect now".
    mark = local.output.length;
    local.send('as approver', `click ${approve}`);
    await local.waitFor(/You are now approver/, { from: mark });
    await local.waitFor(/\[#db-approvers\] crdb-chatops \(edited\):\n[\s\S]*?✅ Applied · approved by @approver/, { from: mark });
    await local.waitFor(/only visible to dev · crdb-chatops:\n\s+✅ `127\.0\.0\.1\/32` is on the allowlist of `local` for SQL\. You can connect now\./, { from: mark });

    // Step 4: the very same URL now works, with verify-full against the local CA.
    const created = await nodePostgres(url, async (c) => {
      // Rolled back, so psql can run the very same statement next.
      await c.query('BEGIN');
      const result = await c.query(CREATE_ACCOUNTS);
      await c.query('ROLLBACK');
      return result.command;
    });
    expect(created).toBe('CREATE');
    expectPsql(url, CREATE_ACCOUNTS, { succeeds: true, output: /^CREATE TABLE$/m });
    if (!psqlInstalled()) await nodePostgres(url, (c) => c.query(CREATE_ACCOUNTS));
    const owner = await nodePostgres(url, (c) => c.query<{ tableowner: string }>("SELECT tableowner FROM pg_tables WHERE tablename = 'accounts'"));
    expect(owner.rows).toEqual([{ tableowner: 'maxroach' }]);

    local.send('quit');
    await expect(local.exited).resolves.toEqual({ code: 0, signal: null });
    expect(local.errors).toBe('');
  }, 60_000);
});
