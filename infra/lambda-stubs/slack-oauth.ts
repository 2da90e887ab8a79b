/** Stub for @slack/oauth (used only by Bolt's OAuth installer and HTTP/Express/Socket Mode receivers): see ./unbundled.ts. */
import { unbundled } from './unbundled';

export = unbundled('@slack/oauth');
