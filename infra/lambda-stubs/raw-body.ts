/** Stub for raw-body (used only by Bolt's Express and HTTP receivers): see ./unbundled.ts. */
import { unbundled } from './unbundled';

export = unbundled('raw-body');
