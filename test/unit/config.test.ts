import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, parseConfigDocument, parseDuration } from '../../lib/config';
import { tempDir } from '../support/temp-dirs';

const minimalCluster = { alias: 'prod-eu', backend: 'cloud', clusterId: 'abc', apiKey: { secretId: 'crdb-chatops/cloud-api-key' } };

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('fills documented defaults for a minimal file', () => {
    const config = parseConfigDocument({ clusters: [minimalCluster] });
    expect(config.slack.command).toBe('/crdb');
    expect(config.delivery).toEqual({ passwordDelivery: 'dm', dmTtl: 3_600_000 });
    expect(config.requests.pendingTtl).toBe(86_400_000);
    const [cluster] = config.clusters;
    expect(cluster?.policy).toMatchObject({ minPrefix: 24, allowOpen: false, quorum: { elevated: 1, high: 2 }, maxFor: 30 * 86_400_000 });
    // The cap defaults to the plan's (the audit asks the backend), so the file leaves it unset.
    expect(cluster?.policy.allowlistCap).toBeUndefined();
    expect(cluster?.backend === 'cloud' && cluster.apiBaseUrl).toBe('https://cockroachlabs.cloud');
  });

  it.each([
    [{ clusters: [] }, 'config: clusters: at least one cluster is required'],
    [{ clusters: [{ ...minimalCluster, alias: 'Prod EU' }] }, 'config: clusters.0.alias: lowercase letters, digits and -'],
    [{ clusters: [{ ...minimalCluster, approvers: ['bob'] }] }, 'config: clusters.0.approvers.0: a Slack user id (U…) or user-group id (S…)'],
    [{ clusters: [{ ...minimalCluster, policy: { maxFor: '2 weeks' } }] }, 'config: clusters.0.policy.maxFor: "2 weeks" is not a duration like 30m, 8h or 7d'],
    [{ clusters: [minimalCluster, minimalCluster] }, 'config: clusters.1.alias: duplicate cluster alias "prod-eu"'],
    [{ clusters: [{ ...minimalCluster, grants: [{ kind: 'role', role: 'admin' }] }] }, 'config: clusters.0.grants.0.role: the bot never grants admin'],
  ])('names the bad key in one line: %j', (document, message) => {
    const error = configError(() => parseConfigDocument(document));
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('\n');
  });

  it('rejects unknown keys so typos do not silently fall back to defaults', () => {
    expect(configError(() => parseConfigDocument({ clusters: [{ ...minimalCluster, aprovers: [] }] })).key).toBe('clusters.0');
  });

  it('loads YAML from CHATOPS_CONFIG and applies environment overrides', () => {
    const dir = tempDir('config-');
    const file = path.join(dir, 'chatops.yml');
    writeFileSync(file, 'clusters:\n  - alias: prod-eu\n    backend: cloud\n    clusterId: abc\n    apiKey: { secretId: k }\n');
    const config = loadConfig({ CHATOPS_CONFIG: file, SLACK_API_URL: 'http://127.0.0.1:9/api/', TABLE_NAME: 't1', PORT: '3100' });
    expect(config.slack.apiUrl).toBe('http://127.0.0.1:9/api/');
    expect(config.state.tableName).toBe('t1');
    expect(config.port).toBe(3100);
    expect(config.baseDir).toBe(dir);
  });

  it('loads a JSON file from CHATOPS_CONFIG without a YAML parser, and names the line of bad YAML', () => {
    const dir = tempDir('config-');
    const json = path.join(dir, 'chatops.json');
    writeFileSync(json, `  ${JSON.stringify({ clusters: [minimalCluster] }, null, 2)}\n`);
    expect(loadConfig({ CHATOPS_CONFIG: json }).clusters.map((c) => c.alias)).toEqual(['prod-eu']);

    // "[" opens a YAML flow sequence as well as JSON: not JSON, so YAML reads it (and refuses a list).
    const flow = path.join(dir, 'flow.yml');
    writeFileSync(flow, '[a, b]\n');
    expect(configError(() => loadConfig({ CHATOPS_CONFIG: flow })).message).toMatch(/^config: /);

    const bad = path.join(dir, 'bad.yml');
    writeFileSync(bad, 'clusters:\n  - alias: prod-eu\n   backend: cloud\n');
    const error = configError(() => loadConfig({ CHATOPS_CONFIG: bad }));
    expect(error.message).toBe(`CHATOPS_CONFIG: ${bad} is not valid YAML/JSON (line 3).`);
  });

  it('says which variable is missing or unreadable', () => {
    expect(configError(() => loadConfig({})).key).toBe('CHATOPS_CONFIG');
    expect(configError(() => loadConfig({ CHATOPS_CONFIG: '/nonexistent/chatops.yml' })).message).toMatch(/cannot read/);
    expect(configError(() => loadConfig({ CHATOPS_CONFIG_JSON: '{' })).key).toBe('CHATOPS_CONFIG_JSON');
    expect(configError(() => loadConfig({ CHATOPS_CONFIG_JSON: JSON.stringify({ clusters: [minimalCluster] }), PORT: 'x' })).key).toBe('PORT');
  });

  it('parses durations in minutes, hours and days only', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('8h')).toBe(28_800_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('0h')).toBeUndefined();
    expect(parseDuration('8 hours')).toBeUndefined();
    expect(parseDuration('1w')).toBeUndefined();
  });
});
