/**
 * The config local mode writes on first start: the three local people, one cluster `local` on
 * the embedded PostgreSQL (sql backend, allowlist in its pg_hba.conf), file secrets, dynalite and
 * the in-process queue. It is an ordinary config file: edit it, or copy it, add clusters (cloud
 * ones too) and point `CHATOPS_CONFIG` at the copy.
 *
 * Paths are absolute: the DM'd `sslrootcert` must work from any directory, and the file store's
 * path is not resolved against the config's directory.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { type LocalPaths } from './data-dir';
import { APPROVERS_CHANNEL, LOCAL_BOT, LOCAL_USERS } from './workspace';

export interface DefaultConfigOptions {
  readonly paths: LocalPaths;
  readonly pgPort: number;
  readonly dynamoPort: number;
}

/** A YAML scalar for any string: JSON's double-quoted form is valid YAML. */
const q = (text: string): string => JSON.stringify(text);

const userId = (name: string): string => {
  const user = LOCAL_USERS.find((u) => u.name === name);
  if (user === undefined) throw new Error(`unreachable: no local user ${name}`);
  return user.id;
};

export function renderDefaultConfig({ paths, pgPort, dynamoPort }: DefaultConfigOptions): string {
  const dev = userId('dev');
  const approver = userId('approver');
  const admin = userId('admin');
  return `# crdb-chatops: local mode configuration, written by \`npm start\` on first start.
# Edit it (kept across restarts; \`npm start -- --reset\` writes a fresh one), or copy it, add
# clusters (cloud ones with their apiBaseUrl too) and run with CHATOPS_CONFIG=<copy>.
# Keys: README, "Configuration".
#
# People in the console: dev = ${dev} (you), approver = ${approver}, admin = ${admin}.
# Channels: #general = C0GENERAL, #db-approvers = ${APPROVERS_CHANNEL.id}.

slack:
  command: /crdb
  botUserId: ${LOCAL_BOT.userId}
  botId: ${LOCAL_BOT.botId}
  # Local mode generates both on each start unless these variables are set.
  signingSecret: { env: SLACK_SIGNING_SECRET }
  botToken: { env: SLACK_BOT_TOKEN }
  # Commands and clicks count only from this workspace (and Enterprise Grid org); unset, the bot
  # token's own workspace (auth.test): the console's is T0LOCAL.
  # teamId: T0LOCAL
  # enterpriseId: E012ABCDEF
  # A payload's response_url is used only under this prefix; local mode uses its emulator's.
  # responseUrlPrefix: https://hooks.slack.com/

access:
  admins: [${admin}]

delivery:
  passwordDelivery: dm
  dmTtl: 60m          # password DMs are deleted after this (local mode sweeps every minute)

requests:
  pendingTtl: 24h
  propagationTimeout: 2m
  reconcileAfter: 1m    # an acked request nothing has moved for this long is driven on (every open one on start)

secrets:
  store: file
  path: ${q(paths.secrets)}

state:
  tableName: crdb-chatops
  endpoint: ${q(`http://127.0.0.1:${dynamoPort}`)}   # dynalite, started by local mode

queue:
  kind: in-process

audit:
  sweepEvery: 1m      # expired entries and users are removed within a minute (AWS: every 15m by default)
  reportAt: "09:00"   # the daily report, in timeZone
  timeZone: UTC

clusters:
  - alias: local
    description: Embedded PostgreSQL started by npm start
    backend: sql
    dialect: postgres
    approversChannel: ${APPROVERS_CHANNEL.id}
    approvers: [${approver}]
    # The bot's admin connection. Local mode starts PostgreSQL on this port.
    connection:
      host: 127.0.0.1
      port: ${pgPort}
      database: defaultdb
      user: postgres
      password: { file: ${q(paths.pgAdminPassword)} }
      caFile: ${q(paths.pgCa)}
    hba: { kind: pg-hba-file, path: ${q(paths.pgHba)} }
    adminSourceCidrs: [127.0.0.1/32]
    # What users connect to (the server certificate is valid for localhost and 127.0.0.1).
    endpoints: [{ region: local, host: localhost }]
    caFile: ${q(paths.pgCa)}
    grants:
      - { kind: database, database: defaultdb, privileges: [CONNECT] }
      - { kind: schema, schema: public, privileges: [USAGE, CREATE] }
    policy:
      autoApproveSingleHost: false    # so /crdb allow 127.0.0.1 shows the approval flow
      userCreateNeedsApproval: false
`;
}

/** Writes the default config unless the file exists; says whether it did. */
export async function ensureDefaultConfig(options: DefaultConfigOptions): Promise<boolean> {
  if (existsSync(options.paths.config)) return false;
  await writeFile(options.paths.config, renderDefaultConfig(options), { mode: 0o644 });
  return true;
}
