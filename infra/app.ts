/**
 * The CDK app (`npm run synth`, `npm run deploy`): reads the config file named by CHATOPS_CONFIG,
 * validates it with the same loader the functions run, and builds the stack.
 *
 * Deployment options (CDK context, `-c key=value`, or cdk.json):
 * - `stackName` (default `CrdbChatops`): deploy several bots to one account under different names;
 * - `alarmEmail`: subscribe an address to the alarms; or `alarmTopicArn`: an existing SNS topic.
 * LOG_LEVEL (environment) sets the functions' log level (default `info`).
 */
import { App } from 'aws-cdk-lib';
import { ConfigError } from '../lib/config';
import { ChatopsStack } from './chatops-stack';
import { loadDeployConfig } from './deploy-config';

function main(): void {
  const app = new App();
  const context = (key: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const alarmEmail = context('alarmEmail');
  const alarmTopicArn = context('alarmTopicArn');
  new ChatopsStack(app, context('stackName') ?? 'CrdbChatops', {
    config: loadDeployConfig(process.env.CHATOPS_CONFIG),
    ...(process.env.LOG_LEVEL ? { logLevel: process.env.LOG_LEVEL } : {}),
    ...(alarmEmail !== undefined && { alarmEmail }),
    ...(alarmTopicArn !== undefined && { alarmTopicArn }),
  });
  app.synth();
}

try {
  main();
} catch (error) {
  // A bad config is the common failure: one line naming the key, not a stack trace.
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
