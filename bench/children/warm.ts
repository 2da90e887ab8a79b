/**
 * Warm ack latency of one function bundle, in a process of its own (forked by
 * bench/figures/warm-ack.ts, one each for the bot, durable-ack and noop-ack, so no one's garbage
 * collection lands in another's samples). The parent drives it over IPC: `{ run: n }` answers `n` samples,
 * taken one at a time as on a warm Lambda instance handling one request at a time. Each sample is
 * the time the handler takes to return the Function URL response for a signed slash command
 * built beforehand.
 *
 * The process has its own Slack emulator (the driver's response_urls and trigger ids, the
 * baselines' `auth.test`); DynamoDB and SQS are the bench's services process.
 */
import { createLambdaContext, type FunctionUrlEvent, SlackDriver, SlackWebApiServer, toFunctionUrlEvent } from '../../stand-ins/slack';

type Handler = (event: FunctionUrlEvent, context: unknown) => Promise<{ statusCode?: number; body?: string }>;

export interface WarmSetup {
  readonly bundle: string;
  /** A substring the answer must contain; `''` means the answer must be empty (a bare ack). */
  readonly expect: string;
  readonly signingSecret: string;
  readonly bot: { readonly token: string; readonly userId: string; readonly botId: string };
  readonly user: string;
  readonly text: string;
}

export type WarmReply = { readonly ready: true } | { readonly samples: number[]; readonly failures: string[] } | { readonly error: string };

async function start(setup: WarmSetup): Promise<(n: number) => Promise<{ samples: number[]; failures: string[] }>> {
  const slack = new SlackWebApiServer({ bot: setup.bot, users: [{ id: setup.user, name: 'alice' }] });
  await slack.start();
  // The bundles read the environment when loaded (bolt-sample) or on first use (the bot).
  process.env.SLACK_API_URL = slack.apiUrl;
  // This emulator builds the commands' response_urls: the bot's config names it, as a
  // deployment's names Slack's (the baselines ignore the variable).
  if (process.env.CHATOPS_CONFIG_JSON !== undefined) {
    const config = JSON.parse(process.env.CHATOPS_CONFIG_JSON) as { slack: Record<string, unknown> };
    config.slack.responseUrlPrefix = `${slack.url}/response/`;
    process.env.CHATOPS_CONFIG_JSON = JSON.stringify(config);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the function's bundle, loaded by path as Lambda does
  const { handler } = require(setup.bundle) as { handler: Handler };
  const driver = new SlackDriver({ server: slack, signingSecret: setup.signingSecret });
  const ok = (body: string): boolean => (setup.expect === '' ? body === '' : body.includes(setup.expect));
  return async (n) => {
    const samples: number[] = [];
    const failures: string[] = [];
    for (let i = 0; i < n; i++) {
      const event = toFunctionUrlEvent(driver.buildSlashCommand({ user: setup.user, text: setup.text }).request);
      const context = createLambdaContext({ functionName: 'bench-warm', memoryLimitInMB: 1024 });
      const started = performance.now();
      const response = await handler(event, context);
      samples.push(performance.now() - started);
      if (response.statusCode !== 200 || !ok(response.body ?? '')) failures.push(`${response.statusCode ?? '?'} ${String(response.body).slice(0, 200)}`);
    }
    return { samples, failures };
  };
}

let run: ((n: number) => Promise<{ samples: number[]; failures: string[] }>) | undefined;
const reply = (message: WarmReply): void => void process.send?.(message);
const failed = (error: unknown): void => reply({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });

process.on('message', (message: { setup: WarmSetup } | { run: number }) => {
  if ('setup' in message) {
    start(message.setup).then((r) => {
      run = r;
      reply({ ready: true });
    }, failed);
  } else if (run !== undefined) {
    run(message.run).then(reply, failed);
  }
});
