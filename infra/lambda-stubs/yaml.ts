/**
 * Stub for yaml (used only to read a `CHATOPS_CONFIG` file in local mode and by the CDK app): see
 * ./unbundled.ts. The functions read `CHATOPS_CONFIG_JSON`, which the stack sets; a config file
 * named by `CHATOPS_CONFIG` still loads on Lambda if it is JSON.
 */
import { unbundled } from './unbundled';

export = unbundled('yaml');
