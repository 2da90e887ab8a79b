/**
 * The slack function, composed: the signature gate before Bolt, the Bolt app over the ack path's
 * use cases, and the `allow me` pages, built once per instance from a runtime. handlers/slack.ts
 * is its Lambda entry point; local mode and the tests build it from the full runtime.
 */
import { type APIGatewayProxyEventV2, type APIGatewayProxyStructuredResultV2, type Context } from 'aws-lambda';
import { ConfigError } from '../config';
import { type AckRuntime } from './ack-runtime';
import { type Receiver } from '@slack/bolt';
import { createSlackApp, type SlackApp } from '../slack/app';
import { CommandHandler } from '../slack/commands';
import { header, rawBodyOf, verifyRequest } from '../slack/verify';
import { LinkKey } from '../links/token';
import { AllowMePages, LINK_PATH_PREFIX } from '../links/pages';

type BoltHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface SlackFunction {
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
