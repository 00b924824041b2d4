/**
 * The public API for workspace code: tools (`defineTool` and zod), and the engine for embedding p2tui.
 * `import { defineTool, z } from 'p2tui'` works in any workspace's tools/ folder.
 */
export { z } from 'zod';
export { defineTool, type Tool, type ToolContext, type ToolSpecInput, type DedupPolicy } from './tools/define.ts';
export { defineEvaluator, type EvaluatorDefinition, type CustomVerdict } from './judge/define.ts';
export type { Material } from './judge/material.ts';
export { defineScorePolicy, type ScorePolicyDefinition, type ScoreEvent, type PolicyActions } from './judge/policy.ts';
export type { EffectClass, Entry, EntryKind, EntryPayloads } from './core/entries.ts';
export type { StoredEvent, EventFilter, SessionOptions } from './bus/events.ts';
export { Engine, type EngineOptions } from './engine/engine.ts';
export { loadWorkspace, type Workspace } from './engine/workspace.ts';
export type { ModelProvider, ModelRequest, ModelResponse, ChatMessage, ToolSpec } from './models/provider.ts';
export { P2Error, UserError, ValidationError, StoreError, ProviderError } from './core/errors.ts';
