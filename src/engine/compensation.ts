import { deadlineSignal } from '../core/clock.ts';
import { UserError, messageOf } from '../core/errors.ts';
import { toJson, type JsonValue } from '../core/json.ts';
import type { EngineContext } from './context.ts';

/** How a compensating action went: its output, or the error it failed with. */
export interface CompensationOutcome {
  readonly tool: string;
  readonly status: 'ok' | 'error';
  readonly output?: JsonValue;
  readonly error?: string;
}

/**
 * Runs the compensating action of an effectful call (the tool's `compensate`), once: a fork never undoes an
 * effect by itself, this is the user's explicit choice. Recorded as an `effect.compensated` event.
 */
export async function compensateEffect(
  ctx: EngineContext,
  sessionId: string,
  key: string,
  by: string,
): Promise<CompensationOutcome> {
  const { store, ports } = ctx;
  const session = store.sessions.resolve(sessionId);
  const intent = store.calls.intent(key);
  if (intent === undefined || intent.session !== session.id) {
    throw new UserError('E_USAGE', `session ${session.id} has no call with key '${key}'`, {
      hint: `Rewinding lists the effectful calls it does not undo, with their keys.`,
    });
  }
  if (intent.effect !== 'effectful' || intent.status !== 'done') {
    throw new UserError(
      'E_SESSION_STATE',
      `the call ${key} (${intent.tool}) is ${intent.effect !== 'effectful' ? `${intent.effect}, not effectful` : intent.status}: there is no effect to undo`,
    );
  }
  if (intent.result?.kind === 'tool_result' && intent.result.payload.simulated === true) {
    throw new UserError(
      'E_SESSION_STATE',
      `the call ${key} (${intent.tool}) ran on a dry-run branch: it changed nothing real, there is no effect to undo`,
    );
  }
  const tool = ports.tools.get(intent.tool);
  if (tool?.compensate === undefined) throw notCompensable(intent.tool, tool?.source);
  // At most once, like the effect itself: the claim is committed before the compensating action starts, so a
  // second request (another terminal, or after a crash mid-way) is refused rather than run again.
  const now0 = ctx.clock.now();
  store.write(() => {
    const last = store.log.lastCompensation(session.id, key);
    if (last === 'ok')
      throw new UserError('E_SESSION_STATE', `the effect of ${key} (${intent.tool}) was compensated already`);
    if (last === 'started') {
      throw new UserError(
        'E_SESSION_STATE',
        `a compensation of ${key} (${intent.tool}) was started and its outcome is not recorded (another process, or a crash)`,
        {
          hint: 'Check by hand whether it took effect; it is not run again automatically.',
        },
      );
    }
    store.append(
      {
        type: 'effect.compensated',
        payload: { key, tool: intent.tool, status: 'started', by },
        session: session.id,
        branch: session.headBranch,
        conversation: intent.conversation,
      },
      now0,
    );
  });
  const result = intent.result?.kind === 'tool_result' ? intent.result.payload : undefined;
  const conversation = store.sessions.conversation(intent.conversation);
  const timeoutMs = tool.timeoutMs ?? 30_000;
  const deadline = deadlineSignal(ctx.clock, timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
  let outcome: CompensationOutcome;
  try {
    const output = await tool.compensate(tool.input.parse(intent.args), result?.output ?? null, {
      session: session.id,
      branch: session.headBranch,
      conversation: intent.conversation,
      agent: conversation?.agent ?? '',
      callId: intent.callId,
      key,
      fence: store.leases.fence(session.id),
      workspace: ports.root,
      now: () => ctx.clock.now(),
      // The ledger tools pay back in the wallets the call paid from (the session's scope).
      ...(ports.wallets === undefined ? {} : { wallets: ports.wallets.scoped(session.options.ledgerScope) }),
      signal: deadline.signal,
      attach: () => undefined,
    });
    outcome = { tool: intent.tool, status: 'ok', output: toJson(output) };
  } catch (error) {
    outcome = { tool: intent.tool, status: 'error', error: messageOf(error) };
  } finally {
    deadline.cancel();
  }
  const now = ctx.clock.now();
  store.write(() =>
    store.append(
      {
        type: 'effect.compensated',
        payload: { key, by, ...outcome },
        session: session.id,
        branch: session.headBranch,
        conversation: intent.conversation,
      },
      now,
    ),
  );
  return outcome;
}

/**
 * Why a tool's effect cannot be undone by p2tui: reward_agent issued new money (p2tui does not take it back); another
 * built-in or MCP tool has no compensating action to add; a workspace tool can be given one.
 */
function notCompensable(tool: string, source: string | undefined): UserError {
  if (tool === 'reward_agent') {
    return new UserError(
      'E_SESSION_STATE',
      'reward_agent is not compensable: it issued new money to the agent, and p2tui does not take a reward back',
      { hint: 'If it must be undone, agree with the agent on a payment back (transfer_funds), or correct it by hand.' },
    );
  }
  const workspaceTool = source !== undefined && !source.startsWith('p2tui.yaml');
  return new UserError('E_SESSION_STATE', `tool '${tool}' declares no compensating action`, {
    hint: workspaceTool
      ? `Add compensate(args, result, ctx) to its defineTool in ${source}, or undo the effect by hand.`
      : "It is not a workspace tool (a built-in or an MCP server's): undo the effect by hand.",
  });
}
