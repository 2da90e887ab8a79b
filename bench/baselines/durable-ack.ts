/**
 * Baseline "durable-ack": the noop-ack app (./noop-ack.ts) whose slash-command listener first makes
 * the command durable, with one conditional `PutItem` (`attribute_not_exists(pk)`, a fresh key),
 * and then calls `ack()`: the least a Bolt app on Lambda can do for a command it must not lose,
 * one write to DynamoDB before the answer. The bot's ack does the same job with more (see README,
 * Performance), so this is the floor its warm ack is judged against.
 *
 * The table and endpoint are the ones the bot's slack function gets in the bench (`TABLE_NAME`,
 * `DYNAMODB_ENDPOINT`: dynalite in the bench's services process); the client is the SDK's
 * `DynamoDBClient` with its defaults, as a team would write it (region and credentials from the
 * environment Lambda sets). Bundled like bolt-sample and noop-ack (`LAMBDA_ESBUILD`).
 */
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { App, AwsLambdaReceiver } from '@slack/bolt';
import { type APIGatewayProxyEventV2, type Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';

const awsLambdaReceiver = new AwsLambdaReceiver({
  signingSecret: process.env.SLACK_SIGNING_SECRET ?? '',
});

const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  receiver: awsLambdaReceiver,
  processBeforeResponse: true,
  ...(process.env.SLACK_API_URL ? { clientOptions: { slackApiUrl: process.env.SLACK_API_URL } } : {}),
});

const tableName = process.env.TABLE_NAME ?? 'durable-ack';
const dynamo = new DynamoDBClient(process.env.DYNAMODB_ENDPOINT ? { endpoint: process.env.DYNAMODB_ENDPOINT } : {});

app.command('/crdb', async ({ command, ack }) => {
  await dynamo.send(
    new PutItemCommand({
      TableName: tableName,
      Item: {
        pk: { S: `COMMAND#${randomUUID()}` },
        sk: { S: 'COMMAND' },
        user: { S: command.user_id },
        channel: { S: command.channel_id },
        text: { S: command.text },
        receivedAt: { S: new Date().toISOString() },
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  await ack();
});

export const handler = async (event: APIGatewayProxyEventV2, context: Context): Promise<unknown> => {
  const boltHandler = await awsLambdaReceiver.start();
  return boltHandler(event, context);
};
