/**
 * Lambda entry point for Slack (Function URL): Slack's signature is checked before Bolt parses
 * anything, then the Bolt app answers; `/allow-me/…` serves the `allow me` pages. Built once per
 * instance (lib/compose/slack-function.ts) from the ack path's runtime alone: the worker's world
 * (cluster backends, pg, the executor) is not even in this function's bundle.
 */
import { createAckRuntime } from '../lib/compose/ack-runtime';
import { buildSlackFunction, type SlackFunction, slackHandler } from '../lib/compose/slack-function';
import { loadConfig } from '../lib/config';
import { EmfMetrics } from '../lib/emf-metrics';
import { invocationLogged } from '../lib/log';

let instance: Promise<SlackFunction> | undefined;

function memoised(): Promise<SlackFunction> {
  instance ??= buildSlackFunction(createAckRuntime(loadConfig(process.env), { env: process.env, metrics: new EmfMetrics({ service: 'slack' }) }));
  // A failed cold start (a secret not readable yet) is retried by the next invocation.
  instance.catch(() => (instance = undefined));
  return instance;
}

export const handler = invocationLogged(slackHandler(memoised));
