/**
 * Baseline "noop-ack": the bolt-sample app (./bolt-sample.ts) whose slash-command listener only
 * calls `ack()`: the least any Bolt app on Lambda can do for a command. Bundled like bolt-sample.
 */
import { App, AwsLambdaReceiver } from '@slack/bolt';
import { type APIGatewayProxyEventV2, type Context } from 'aws-lambda';

const awsLambdaReceiver = new AwsLambdaReceiver({
  signingSecret: process.env.SLACK_SIGNING_SECRET ?? '',
});

const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  receiver: awsLambdaReceiver,
  processBeforeResponse: true,
  ...(process.env.SLACK_API_URL ? { clientOptions: { slackApiUrl: process.env.SLACK_API_URL } } : {}),
});

app.command('/crdb', async ({ ack }) => {
  await ack();
});

export const handler = async (event: APIGatewayProxyEventV2, context: Context): Promise<unknown> => {
  const boltHandler = await awsLambdaReceiver.start();
  return boltHandler(event, context);
};
