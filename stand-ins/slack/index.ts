/**
 * A Slack platform emulator speaking Slack's real protocols: the Web API and response_url
 * endpoints (`SlackWebApiServer`) and the signed requests Slack sends an app (`SlackDriver`),
 * delivered as Lambda Function URL events or over HTTP. Local mode's console and the tests share it.
 */
export * from './block-kit';
export * from './driver';
export * from './lambda-function-url';
export * from './model';
export * from './signing';
export * from './transport';
export * from './web-api-server';
