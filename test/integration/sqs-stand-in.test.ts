/**
 * The SQS FIFO stand-in, through the real SDK: the semantics the worker's retry test relies on
 * (visibility, FIFO groups, receipt handles, redrive) behave as SQS documents them.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  MessageNotInflight,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ManualClock, SqsStandIn } from '../../stand-ins/sqs';

const clock = new ManualClock(Date.parse('2025-01-01T00:00:00Z'));
const sqs = new SqsStandIn({ visibilityTimeoutSeconds: 30, maxReceiveCount: 3, now: clock.now });
let client: SQSClient;
let sent = 0;

beforeAll(async () => {
  await sqs.start();
  client = new SQSClient({ region: 'us-east-1', endpoint: sqs.endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' }, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await sqs.stop();
});

beforeEach(() => sqs.reset());

async function send(groupId: string, body = `body ${sent + 1}`, deduplicationId = `dedup-${++sent}`): Promise<string> {
  const out = await client.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: body, MessageGroupId: groupId, MessageDeduplicationId: deduplicationId }));
  return out.MessageId ?? '';
}

async function receive(options: { max?: number; visibility?: number } = {}): Promise<Message[]> {
  const out = await client.send(
    new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl, MaxNumberOfMessages: options.max ?? 1, VisibilityTimeout: options.visibility, MessageSystemAttributeNames: ['All'], WaitTimeSeconds: 0 }),
  );
  return out.Messages ?? [];
}

const bodies = (messages: Message[]) => messages.map((m) => m.Body);
const handle = (message: Message | undefined) => message?.ReceiptHandle ?? '';

describe('SQS FIFO stand-in', () => {
  it('delivers a message with its attributes and a body MD5 the SDK accepts', async () => {
    const id = await send('g', '{"type":"submit","requestId":"ü"}');
    clock.advance(5);
    const [message, ...rest] = await receive();
    expect(rest).toEqual([]);
    expect(message).toMatchObject({ MessageId: id, Body: '{"type":"submit","requestId":"ü"}' });
    expect(message?.Attributes).toMatchObject({
      ApproximateReceiveCount: '1',
      MessageGroupId: 'g',
      SentTimestamp: String(clock.now() - 5),
      ApproximateFirstReceiveTimestamp: String(clock.now()),
    });
    expect(message?.Attributes?.SequenceNumber).toMatch(/^\d+$/);
  });

  it('keeps a message invisible for the queue default or the asked visibility, and counts receives', async () => {
    await send('a');
    await send('b');
    expect(bodies(await receive())).toHaveLength(1);
    expect(bodies(await receive({ visibility: 5 }))).toHaveLength(1);
    clock.advance(4_999);
    await expect(receive()).resolves.toEqual([]);
    clock.advance(1);
    const [again] = await receive();
    expect(again?.Attributes?.MessageGroupId).toBe('b');
    expect(again?.Attributes?.ApproximateReceiveCount).toBe('2');
    clock.advance(30_000 - 5_000 - 1);
    await expect(receive()).resolves.toEqual([]);
    clock.advance(1);
    expect((await receive())[0]?.Attributes?.MessageGroupId).toBe('a');
  });

  it('never delivers a message of a group while another of the group is in flight; order within a group', async () => {
    await send('a', 'a1');
    await send('a', 'a2');
    await send('b', 'b1');
    const [a1] = await receive();
    expect(a1?.Body).toBe('a1');
    expect(bodies(await receive())).toEqual(['b1']);
    await expect(receive()).resolves.toEqual([]);
    await client.send(new DeleteMessageCommand({ QueueUrl: sqs.queueUrl, ReceiptHandle: handle(a1) }));
    expect(bodies(await receive())).toEqual(['a2']);
    expect(sqs.depth).toBe(2);
  });

  it('returns a batch in order within each group', async () => {
    await send('a', 'a1');
    await send('b', 'b1');
    await send('a', 'a2');
    expect(bodies(await receive({ max: 10 }))).toEqual(['a1', 'b1', 'a2']);
    await expect(receive({ max: 10 })).resolves.toEqual([]);
  });

  it('moves visibility with ChangeMessageVisibility, from now', async () => {
    await send('a', 'a1');
    const [a1] = await receive();
    clock.advance(10_000);
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: sqs.queueUrl, ReceiptHandle: handle(a1), VisibilityTimeout: 2 }));
    clock.advance(1_999);
    await expect(receive()).resolves.toEqual([]);
    clock.advance(1);
    const [back] = await receive();
    expect(back?.Attributes?.ApproximateReceiveCount).toBe('2');
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: sqs.queueUrl, ReceiptHandle: handle(back), VisibilityTimeout: 0 }));
    expect(bodies(await receive())).toEqual(['a1']);
  });

  it('accepts only the latest receipt handle of a message in flight', async () => {
    await send('a', 'a1');
    const [first] = await receive({ visibility: 1 });
    clock.advance(1_000);
    const change = (receiptHandle: string, seconds = 5) => client.send(new ChangeMessageVisibilityCommand({ QueueUrl: sqs.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
    const remove = (receiptHandle: string) => client.send(new DeleteMessageCommand({ QueueUrl: sqs.queueUrl, ReceiptHandle: receiptHandle }));
    // Expired (no longer in flight), then superseded by a later receive.
    await expect(change(handle(first))).rejects.toBeInstanceOf(MessageNotInflight);
    await expect(remove(handle(first))).rejects.toThrow(/receipt handle has expired/);
    const [second] = await receive();
    await expect(change(handle(first))).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
    await expect(remove(handle(first))).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
    expect(sqs.violations).toEqual([]);
    // Never issued: invalid, and a violation (a caller bug).
    await expect(change('forged')).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
    expect(sqs.violations).toHaveLength(1);
    // Out of range.
    await expect(change(handle(second), 43_201)).rejects.toThrow(/VisibilityTimeout/);
    expect(sqs.messageState(second?.MessageId ?? '').state).toBe('in-flight');
    await remove(handle(second));
    await remove(handle(second));
    expect(sqs.messageState(second?.MessageId ?? '').state).toBe('deleted');
    await expect(change(handle(second))).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
  });

  it('dead-letters a message received maxReceiveCount times, and the group moves on', async () => {
    await send('a', 'a1');
    await send('a', 'a2');
    for (let i = 1; i <= 3; i++) {
      expect((await receive())[0]?.Attributes?.ApproximateReceiveCount).toBe(String(i));
      clock.advance(30_000);
    }
    expect(bodies(await receive())).toEqual(['a2']);
    expect(sqs.deadLetters.map((m) => m.body)).toEqual(['a1']);
  });

  it('drops a duplicate within five minutes of the stand-in clock', async () => {
    const first = await send('a', 'x', 'same');
    clock.advance(5 * 60_000 - 1);
    await expect(send('a', 'x', 'same')).resolves.toBe(first);
    clock.advance(1);
    await expect(send('a', 'x', 'same')).resolves.not.toBe(first);
    expect(sqs.sendCount).toBe(3);
    expect(sqs.messages).toHaveLength(2);
  });

  it('refuses what it does not emulate', async () => {
    await expect(client.send(new GetQueueAttributesCommand({ QueueUrl: sqs.queueUrl, AttributeNames: ['All'] }))).rejects.toThrow(/not emulated/);
    await expect(client.send(new ReceiveMessageCommand({ QueueUrl: `${sqs.queueUrl}-other`, MaxNumberOfMessages: 1 }))).rejects.toThrow(/does not exist/);
    await expect(client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl, MaxNumberOfMessages: 11 }))).rejects.toThrow(/MaxNumberOfMessages/);
    expect(sqs.violations).toHaveLength(3);
  });
});
