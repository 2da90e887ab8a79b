/**
 * Delivers a Slack request to a Lambda handler the way a Lambda Function URL does, so the code
 * under test sees the event production sends (payload format 2.0, as API Gateway HTTP APIs also
 * use):
 *
 * - `version: '2.0'`, `routeKey: '$default'`, `rawPath`, `rawQueryString: ''`, header names
 *   lower-cased (repeated headers joined with commas), no `queryStringParameters` or `cookies`
 *   when there are none;
 * - the body base64-encoded with `isBase64Encoded: true` unless its content type is textual
 *   (`text/*`, JSON, XML, JavaScript): Slack's form posts (`application/x-www-form-urlencoded`)
 *   arrive base64-encoded, which is what catches apps that read `event.body` directly;
 * - `requestContext.http` with method, path, protocol, source IP and user agent, plus `timeEpoch`.
 *
 * The handler's return value is read as Function URLs read it: an object with `statusCode` is the
 * response; anything else is a 200 JSON body; a thrown error becomes a 502.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { appResponse, type SlackAppResponse, type SlackRequest } from './transport';

/** The Function URL (payload format 2.0) event. Assignable to Bolt's `AwsEvent`. */
export interface FunctionUrlEvent {
  readonly version: '2.0';
  readonly routeKey: '$default';
  readonly rawPath: string;
  readonly rawQueryString: string;
  readonly cookies?: string[];
  readonly headers: Record<string, string>;
  readonly queryStringParameters?: Record<string, string>;
  readonly requestContext: {
    readonly accountId: string;
    readonly apiId: string;
    readonly domainName: string;
    readonly domainPrefix: string;
    readonly http: { readonly method: string; readonly path: string; readonly protocol: string; readonly sourceIp: string; readonly userAgent: string };
    readonly requestId: string;
    readonly routeKey: '$default';
    readonly stage: '$default';
    readonly time: string;
    readonly timeEpoch: number;
  };
  readonly body?: string;
  readonly isBase64Encoded: boolean;
}

/** The Node.js Lambda context object (the fields of `aws-lambda`'s `Context`). */
export interface LambdaContext {
  callbackWaitsForEmptyEventLoop: boolean;
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  getRemainingTimeInMillis(): number;
  /** @deprecated Callback-style completion: the Node.js 24 runtime does not support it; here it throws. */
  done(error?: Error, result?: unknown): void;
  /** @deprecated See `done`. */
  fail(error: Error | string): void;
  /** @deprecated See `done`. */
  succeed(messageOrObject: unknown, object?: unknown): void;
}

/** A two-argument, promise-returning handler, as Lambda's Node.js 24 runtime requires. */
export type FunctionUrlHandler = (event: FunctionUrlEvent, context: LambdaContext) => Promise<unknown>;

export interface FunctionUrlEventOptions {
  /** `true`/`false` force the encoding; default `'auto'`: base64 unless the content type is textual. */
  readonly base64?: boolean | 'auto';
  /** The URL id (`<id>.lambda-url.<region>.on.aws`). */
  readonly urlId?: string;
  readonly region?: string;
  /** Where Slack's request seems to come from. */
  readonly sourceIp?: string;
  /** Clock for `requestContext.time`/`timeEpoch`; default `Date.now`. */
  readonly now?: () => number;
  /** The `Host` header, when the endpoint is not a real Function URL (local mode: `localhost:3000`); default the URL's domain. */
  readonly host?: string;
}

export interface LambdaContextOptions {
  readonly functionName?: string;
  readonly region?: string;
  readonly accountId?: string;
  readonly memoryLimitInMB?: number;
  /** The function's configured timeout, for `getRemainingTimeInMillis`; default 10 s. */
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

export interface InvokeHandlerOptions extends FunctionUrlEventOptions {
  readonly context?: LambdaContextOptions;
}

const TEXT_CONTENT = /^(text\/|application\/(json|xml|javascript)|[^;]*\+(json|xml))/i;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

function clfTime(ms: number): string {
  // Function URLs format `time` like an access log: 12/Mar/2020:19:03:58 +0000. (Not
  // toLocaleString: ICU made it the endpoint's costliest step under a burst of requests.)
  const d = new Date(ms);
  const month = MONTHS[d.getUTCMonth()] ?? '';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${month}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Turns a Slack request into the event a Function URL hands the function. */
export function toFunctionUrlEvent(
  request: SlackRequest,
  { base64 = 'auto', urlId = 'crdbchatopstestfunctionurl0001', region = 'us-east-1', sourceIp = '54.209.1.1', now = Date.now, host }: FunctionUrlEventOptions = {},
): FunctionUrlEvent {
  const timeEpoch = now();
  const domainName = `${urlId}.lambda-url.${region}.on.aws`;
  const bodyBytes = Buffer.from(request.body, 'utf8');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
  }
  Object.assign(headers, {
    host: host ?? domainName,
    'content-length': String(bodyBytes.length),
    'x-amzn-tls-cipher-suite': 'TLS_AES_128_GCM_SHA256',
    'x-amzn-tls-version': 'TLSv1.3',
    'x-amzn-trace-id': `Root=1-${Math.floor(timeEpoch / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
    'x-forwarded-for': sourceIp,
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  });
  const encode = base64 === 'auto' ? !TEXT_CONTENT.test(headers['content-type'] ?? '') : base64;
  const [rawPath = '/', rawQueryString = ''] = request.path.split('?', 2);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    ...(rawQueryString !== '' && { queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) }),
    requestContext: {
      // Function URLs with AuthType NONE report the caller account as "anonymous".
      accountId: 'anonymous',
      apiId: urlId,
      domainName,
      domainPrefix: urlId,
      http: { method: request.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp, userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: clfTime(timeEpoch),
      timeEpoch,
    },
    ...(request.body !== '' && { body: encode ? bodyBytes.toString('base64') : request.body }),
    isBase64Encoded: encode,
  };
}

/** A realistic Lambda context for one invocation. */
export function createLambdaContext({
  functionName = 'crdb-chatops-slack',
  region = 'us-east-1',
  accountId = '123456789012',
  memoryLimitInMB = 512,
  timeoutMs = 10_000,
  now = Date.now,
}: LambdaContextOptions = {}): LambdaContext {
  const deadline = now() + timeoutMs;
  const day = new Date(now()).toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = (): never => {
    throw new Error('Callback-style completion (context.done/fail/succeed) is not supported by the Node.js 24 Lambda runtime; return a promise.');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${functionName}`,
    memoryLimitInMB: String(memoryLimitInMB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a handler's result as a Function URL does (payload format 2.0 responses). */
export function functionUrlResponse(result: unknown): SlackAppResponse {
  if (isRecord(result) && typeof result.statusCode === 'number') {
    const headers = isRecord(result.headers) ? result.headers : {};
    const raw = typeof result.body === 'string' ? result.body : '';
    const body = result.isBase64Encoded === true ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    return appResponse(result.statusCode, headers, body);
  }
  // No statusCode: the whole value is a JSON body with status 200.
  const body = typeof result === 'string' ? result : (JSON.stringify(result) ?? '');
  return appResponse(200, { 'content-type': 'application/json' }, body);
}

/**
 * Invokes `handler` with the Function URL event for `request` and a fresh context; returns the
 * HTTP answer the Function URL would give. Refuses 3-argument (callback) handlers up front, as
 * Lambda's Node.js 24 runtime does (`Runtime.CallbackHandlerDeprecated`).
 */
export async function invokeHandler(handler: FunctionUrlHandler, request: SlackRequest, { context, ...eventOptions }: InvokeHandlerOptions = {}): Promise<SlackAppResponse> {
  if (handler.length > 2) throw new Error('Runtime.CallbackHandlerDeprecated: the handler takes a callback; Lambda Node.js 24 requires (event, context) => Promise');
  const event = toFunctionUrlEvent(request, eventOptions);
  try {
    return functionUrlResponse(await handler(event, createLambdaContext({ ...context, ...(eventOptions.now && { now: eventOptions.now }) })));
  } catch (error: unknown) {
    // The function failed: the Function URL answers 502 and the error stays in the function's logs.
    return appResponse(502, { 'content-type': 'application/json' }, 'Internal Server Error', error);
  }
}
