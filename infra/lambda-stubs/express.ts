/** Stub for Express (used only by Bolt's ExpressReceiver): see ./unbundled.ts. */
import { unbundled } from './unbundled';

export = unbundled('express');
