/**
 * The change kinds, by name: how a request of each kind is planned and applied, and, for the kinds
 * that can be undone (`allow`, `user create`), rolled back. Revoke, rotate, delete and extend go
 * forward only; what they leave half done, the audit reports.
 */
import { type ChatRequest } from '../types';
import { planAllow, rollBackAllow } from './allow';
import { type KindContext, type Plan } from './context';
import { applyExtend } from './extend';
import { applyRevoke } from './revoke';
import { planUserCreate, rollBackUserCreate } from './user-create';
import { applyUserDelete } from './user-delete';
import { applyUserRotate } from './user-rotate';

/** Checks what needs no change and prepares the kind's work; `user create` writes its secret here. */
export async function planFor(ctx: KindContext, request: ChatRequest): Promise<Plan> {
  const { params } = request;
  switch (params.kind) {
    case 'allow':
      return planAllow(ctx, request, params.allow);
    case 'revoke':
      return { run: (current) => applyRevoke(ctx, current, params.revoke.cidr) };
    case 'user-create':
      return planUserCreate(ctx, request, params.userCreate);
    case 'user-rotate':
      return { run: (current) => applyUserRotate(ctx, current, params.user.user) };
    case 'user-delete':
      return { run: (current) => applyUserDelete(ctx, current, params.user.user) };
    case 'extend':
      return { run: (current) => applyExtend(ctx, current, params.extend) };
  }
}

/** What undoes a failed request of this kind (`cause`: why it failed), or undefined when the kind goes forward only. */
export function rollBackOf(request: ChatRequest): ((ctx: KindContext, cause: unknown) => Promise<void>) | undefined {
  const { params } = request;
  switch (params.kind) {
    case 'allow':
      return (ctx) => rollBackAllow(ctx, request, params.allow.cidr);
    case 'user-create':
      return (ctx, cause) => rollBackUserCreate(ctx, request, params.userCreate.user, cause);
    default:
      return undefined;
  }
}
