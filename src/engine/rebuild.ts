import { StoreError, messageOf } from '../core/errors.ts';
import type { Store } from '../store/store.ts';
import type { SessionRow } from '../store/sessions.ts';
import type { ConversationRuntime } from './conversation.ts';
import { apply } from './fsm.ts';
import type { PersonaKit } from './persona-kit.ts';
import type { Persona } from '../agents/persona.ts';
import { restoreConversations, runtimesOf, saveSnapshots } from './snapshot.ts';

export interface Rebuilt {
  readonly conversations: Map<string, ConversationRuntime>;
  readonly root: ConversationRuntime;
  readonly totalSteps: number;
}

/**
 * Rebuilds a session's conversations from the log (the entries visible on its branch): from the conversations'
 * snapshots and the entries after them when they check out against the log (snapshot.ts), else replaying every entry
 * through the state machine. A stored history that does not replay is reported, never silently repaired. `save`:
 * write snapshots of what was rebuilt when it took a long replay (a database made before snapshots gets them here).
 */
export function rebuildConversations(
  store: Store,
  kit: PersonaKit,
  session: SessionRow,
  personaOf: (id: string) => Persona,
  options: { readonly save?: boolean } = {},
): Rebuilt {
  const rebuilt =
    restoreConversations(store, kit, session, personaOf) ?? rebuildFromLog(store, kit, session, personaOf);
  if (options.save === true) saveSnapshots(store, session.id, rebuilt.conversations.values());
  return rebuilt;
}

/** The rebuild from the whole log, snapshots or not (what a load without them does; tests compare the two). */
export function rebuildFromLog(
  store: Store,
  kit: PersonaKit,
  session: SessionRow,
  personaOf: (id: string) => Persona,
): Rebuilt {
  const entries = store.log.visibleEntries(session.id, store.sessions.segments(session.headBranch));
  const withEntries = new Set(entries.map((e) => e.conversation));
  const conversations = runtimesOf(
    store.sessions.conversations(session.id),
    (id) => withEntries.has(id),
    kit,
    personaOf,
  );
  const root = conversations.get(session.rootConversation);
  if (root === undefined)
    throw new StoreError('E_DB_CORRUPT', `session ${session.id} has no root conversation`, {
      hint: 'The database may be damaged.',
    });
  for (const entry of entries) {
    const conv = conversations.get(entry.conversation);
    if (conv === undefined) continue;
    try {
      conv.state = apply(conv.state, entry);
    } catch (error) {
      throw new StoreError(
        'E_DB_CORRUPT',
        `entry ${entry.seq} of conversation ${conv.id} breaks the state machine: ${messageOf(error)}`,
        {
          hint: 'The database may have been edited by hand; export what you need and start a new session.',
        },
      );
    }
    conv.observe(entry);
    if (entry.kind === 'agent_call') {
      const child = conversations.get(entry.payload.child);
      if (child !== undefined) conv.linkChild(entry.payload.callId, child, entry.seq);
    }
  }
  // Steps per conversation as the branch sees them (a fork does not inherit the model calls made after its point).
  let totalSteps = 0;
  for (const [conversation, seqs] of store.log.modelCallSeqs(session.id, store.sessions.segments(session.headBranch))) {
    const conv = conversations.get(conversation);
    if (conv !== undefined) {
      for (const seq of seqs) conv.countModelCall(seq);
      conv.steps = seqs.length;
    }
    totalSteps += seqs.length;
  }
  return { conversations, root, totalSteps };
}
