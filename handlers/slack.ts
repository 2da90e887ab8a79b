/**
 * Lambda entry point for Slack (Function URL or HTTP API): verify, then hand to Bolt.
 *
 * The signature gate runs before Bolt parses anything. Everything is built once per instance
 * (memoised) and reused while the instance is warm. Local mode and the tests hand
 * `buildSlackFunction` the full runtime; on Lambda it gets the ack path's alone.
 */
import { type APIGatewayProxyEventV2, type APIGatewayProxyStructuredResultV2, type Context } from 'aws-lambda';
import { ConfigError, loadConfig } from '../lib/config';
import { type AckRuntime, createAckRuntime } from '../lib/ack-runtime';
import { invocationLogged } from '../lib/log';
import { type Receiver } from '@slack/bolt';
import { createSlackApp, type SlackApp } from '../lib/slack/app';
import { CommandHandler } from '../lib/slack/commands';
import { header, rawBodyOf, verifyRequest } from '../lib/slack/verify';
import { EmfMetrics } from '../lib/emf-metrics';
import { LinkKey } from '../lib/links/token';
import { AllowMePages, LINK_PATH_PREFIX } from '../lib/links/pages';

type BoltHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

interface SlackFunction {
  readonly runtime: AckRuntime;
  readonly signingSecret: string;
  readonly bolt: BoltHandler;
  /** `/allow-me/<token>`: the pages of `allow me` links (not Slack's: no Slack signature). */
  readonly pages: AllowMePages;
}

export interface SlackIdentity {
  readonly signingSecret: string;
  readonly botToken: string;
  readonly botId: string;
  readonly botUserId: string;
}

/**
 * The Bolt app over the ack path's use cases: the one place its listeners are wired, for the
 * Lambda handler here and for local mode's Socket Mode receiver.
 */
export async function slackAppFor(
  runtime: AckRuntime,
  identity: SlackIdentity,
  receiver?: Receiver,
  commands = commandHandlerFor(runtime, identity.signingSecret === '' ? undefined : new LinkKey(identity.signingSecret)),
): Promise<SlackApp> {
  const { config } = runtime;
  return createSlackApp({
    ...identity,
    commandName: config.slack.command,
    commands,
    decisions: runtime.decisions,
    findings: runtime.findings,
    logger: runtime.logger,
    client: await runtime.slack(),
    ...(receiver ? { receiver } : {}),
    workspace: { ...(config.slack.teamId !== undefined ? { teamId: config.slack.teamId } : {}), ...(config.slack.enterpriseId !== undefined ? { enterpriseId: config.slack.enterpriseId } : {}) },
    responseUrlPrefix: config.slack.responseUrlPrefix,
    clusters: runtime.clusters,
    clusterAliases: config.clusters.map((c) => c.alias),
  });
}

/** The slash command's use cases; `allow me` needs the link key (derived from the signing secret), so none without one. */
function commandHandlerFor(runtime: AckRuntime, key: LinkKey | undefined): CommandHandler {
  const { config } = runtime;
  const links = key === undefined ? undefined : { key, store: runtime.store, ...(config.links.baseUrl !== undefined ? { baseUrl: config.links.baseUrl } : {}) };
  return new CommandHandler({
    commandName: config.slack.command,
    clusters: config.clusters,
    intake: runtime.intake,
    store: runtime.store,
    access: runtime.access,
    logger: runtime.logger,
    ...(links ? { links } : {}),
    ...(runtime.now ? { now: runtime.now } : {}),
  });
}

export async function buildSlackFunction(runtime: AckRuntime): Promise<SlackFunction> {
  const { config } = runtime;
  const { botId, botUserId } = config.slack;
  if (botId === undefined || botUserId === undefined) {
    throw new ConfigError('config: slack.botId and slack.botUserId are required on Lambda (they spare auth.test on every cold start).', 'slack.botId');
  }
  const [signingSecret, botToken] = await Promise.all([
    runtime.resolver.resolve(config.slack.signingSecret, 'slack.signingSecret'),
    runtime.resolver.resolve(config.slack.botToken, 'slack.botToken'),
  ]);
  const key = new LinkKey(signingSecret);
  const commands = commandHandlerFor(runtime, key);
  const { lambdaReceiver } = await slackAppFor(runtime, { signingSecret, botToken, botId, botUserId }, undefined, commands);
  if (lambdaReceiver === undefined) throw new Error('unreachable: the Lambda receiver is the default');
  const pages = new AllowMePages({
    key,
    store: runtime.store,
    confirm: (link, address, options) => commands.confirmLink(link, address, options),
    trustedProxies: config.links.trustedProxies,
    commandName: config.slack.command,
    logger: runtime.logger,
    ...(runtime.now ? { now: runtime.now } : {}),
    ...(runtime.checkpoint ? { checkpoint: runtime.checkpoint } : {}),
  });
  return { runtime, signingSecret, bolt: lambdaReceiver.toHandler() as BoltHandler, pages };
}

/** Verifies Slack's signature before Bolt sees the request; refuses without parsing otherwise. */
export function slackHandler(fn: () => Promise<SlackFunction>, now: () => number = Date.now): BoltHandler {
  return async (event, context) => {
    const built = await fn();
    if (event.rawPath.startsWith(LINK_PATH_PREFIX)) return linkPage(built, event);
    const verdict = verifyRequest({
      signingSecret: built.signingSecret,
      rawBody: rawBodyOf(event),
      signature: header(event.headers, 'x-slack-signature'),
      timestamp: header(event.headers, 'x-slack-request-timestamp'),
      nowMs: now(),
    });
    if (!verdict.ok) {
      built.runtime.logger.warn({ event: 'request.unverified', reason: verdict.reason, requestId: context.awsRequestId }, 'refused an unverified request');
      return { statusCode: 401, body: '' };
    }
    return built.bolt(event, context);
  };
}

/** An `allow me` page: the Function URL event as the pages read it. */
async function linkPage(built: SlackFunction, event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const method = event.requestContext.http.method.toUpperCase();
  // A form is a few hundred bytes; anything larger is not one.
  const raw = event.body === undefined ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const page = await built.pages.serve({
    method,
    path: event.rawPath,
    sourceIp: event.requestContext.http.sourceIp,
    headers: { origin: header(event.headers, 'origin'), 'x-forwarded-for': header(event.headers, 'x-forwarded-for') },
    body: raw.length > 4096 ? '' : raw,
    host: header(event.headers, 'host') ?? event.requestContext.domainName,
  });
  return { statusCode: page.statusCode, headers: { ...page.headers }, body: page.body };
}

let instance: Promise<SlackFunction> | undefined;

function memoised(): Promise<SlackFunction> {
  // The ack path's runtime only: the worker's world (cluster backends, pg, the executor) is not
  // even in this function's bundle (see lib/ack-runtime.ts).
  instance ??= buildSlackFunction(createAckRuntime(loadConfig(process.env), { env: process.env, metrics: new EmfMetrics({ service: 'slack' }) }));
  // A failed cold start (a secret not readable yet) is retried by the next invocation.
  instance.catch(() => (instance = undefined));
  return instance;
}

export const handler = invocationLogged(slackHandler(memoised));
