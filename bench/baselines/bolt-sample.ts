/**
 * Baseline "bolt-sample": what a team would deploy from Slack's official example
 * (slackapi/bolt-js `examples/deploy-aws-lambda/app.js`): one Bolt `App` on an
 * `AwsLambdaReceiver`, the token and signing secret from the environment, `processBeforeResponse`,
 * and one listener, here for the slash command, answering with a Block Kit message.
 *
 * Two departures, both needed to measure it next to the bot: the Web API URL comes from
 * `SLACK_API_URL` so the `auth.test` Bolt makes at construction (the sample gives no bot ids)
 * reaches the local Slack emulator instead of slack.com; and the handler takes two arguments, as
 * Lambda's Node.js 24 runtime requires (the sample's third, `callback`, was never used).
 * Bundled by the bench with the bot's esbuild settings (infra/bundling.ts, `LAMBDA_ESBUILD`).
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

app.command('/crdb', async ({ command, ack }) => {
  await ack({
    response_type: 'ephemeral',
    text: `Hey there <@${command.user_id}>!`,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `Hey there <@${command.user_id}>! You asked for \`${command.text}\`.` },
        accessory: { type: 'button', text: { type: 'plain_text', text: 'Click Me' }, action_id: 'button_click' },
      },
    ],
  });
});

export const handler = async (event: APIGatewayProxyEventV2, context: Context): Promise<unknown> => {
  const boltHandler = await awsLambdaReceiver.start();
  return boltHandler(event, context);
};
