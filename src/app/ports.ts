import { renderSystemPrompt } from '../agents/prompt.ts';
import type { EffectJournalPort, EnginePorts, EvaluationPort } from '../engine/ports.ts';
import { queueEvaluation } from '../judge/jobs.ts';
import type { EvaluatorRegistry } from '../judge/registry.ts';
import type { WalletService } from '../ledger/wallets/service.ts';
import { contextTokensFor } from '../models/context-window.ts';
import { costOf } from '../models/pricing.ts';
import type { JsonValue } from '../core/json.ts';
import type { Store } from '../store/store.ts';
import type { Workspace } from './workspace.ts';

/**
 * The engine's ports over a loaded workspace: its personas, tools and providers, the judge's triggers writing jobs
 * into `store`, and the wallets (asked for only when a ledger tool runs, so a misconfigured Canton does not stop
 * sessions that never pay).
 */
export function enginePorts(
  workspace: Workspace,
  store: Store,
  wallets: () => WalletService,
  effects?: EffectJournalPort,
): EnginePorts {
  const { config } = workspace;
  return {
    root: workspace.root,
    personas: {
      all: workspace.personas,
      get: (id) => workspace.persona(id),
      systemPrompt: renderSystemPrompt,
    },
    tools: workspace.tools,
    models: {
      resolve: (ref) => workspace.providers.resolve(ref),
      contextTokens: (ref) => contextTokensFor(ref, config.providers[ref.split('/')[0] ?? '']?.context_tokens),
      cost: (ref, tokensIn, tokensOut) => costOf(ref, tokensIn, tokensOut, workspace.prices),
    },
    evaluations: evaluationTriggers(store, workspace.evaluators),
    wallets: { scoped: (scope) => wallets().scoped(scope) },
    redactor: workspace.redactor,
    inlineBytes: config.limits.inline_bytes,
    // A listing is what a server sent as JSON (or what a recording stored): JSON values, whatever its static type.
    mcpListings: workspace.mcpListings.map(({ server, tools }) => ({ server, tools: tools as unknown as JsonValue })),
    ...(effects === undefined ? {} : { effects }),
  };
}

/** The judge's triggers as the engine sees them: which evaluators a step calls for, and a durable job for each. */
function evaluationTriggers(store: Store, registry: EvaluatorRegistry): EvaluationPort {
  return {
    onFinished: (agent, root) => registry.onFinished(agent, root),
    onArtifact: (kind) => registry.onArtifact(kind),
    onMilestone: (name) => registry.onMilestone(name),
    queue: (job) => void queueEvaluation(store, { ...job, evaluator: registry.require(job.evaluator.id) }),
  };
}
