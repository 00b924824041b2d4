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
  const tool = ports.tools.get(intent.tool);
  if (tool?.compensate === undefined) {
    throw new UserError('E_SESSION_STATE', `tool '${intent.tool}' declares no compensating action`, {
      hint: `Add compensate(args, result, ctx) to its defineTool, or undo the effect by hand.`,
    });
  }
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
