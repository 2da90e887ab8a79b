/** Stub for @slack/socket-mode (used only by Bolt's SocketModeReceiver): see ./unbundled.ts. */
import { unbundled } from './unbundled';

export = unbundled('@slack/socket-mode');
