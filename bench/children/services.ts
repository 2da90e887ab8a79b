/**
 * The AWS services of the timing figures in a process of their own (forked by bench/lib/world.ts):
 * the local DynamoDB (dynalite with its transaction front server) and the SQS stand-in. Like the
 * real services they do their work on other CPUs than the function's and the bench driver's.
 * Sends `{ dynamoEndpoint, sqsEndpoint, queueUrl }` over IPC when listening; stops on SIGTERM.
 */
import { startDynalite } from '../../local/dynalite';
import { SqsStandIn } from '../../stand-ins/sqs';

async function main(): Promise<void> {
  const dynamo = await startDynalite();
  const sqs = new SqsStandIn();
  const { endpoint, queueUrl } = await sqs.start();
  process.send?.({ dynamoEndpoint: dynamo.endpoint, sqsEndpoint: endpoint, queueUrl });
  // `cpu`: the parent asks how much CPU the services used so far (µs), to split a figure's cost.
  process.on('message', (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ cpuMicros: user + system });
    }
  });
  process.once('SIGTERM', () => {
    void Promise.all([sqs.stop(), dynamo.close()]).finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`services failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
