/**
 * The public API for workspace code: tools (`defineTool` and zod), and the app (a workspace wired to its database:
 * engine, judge, wallets) for embedding p2tui.
 * `import { defineTool, z } from 'p2tui'` works in any workspace's tools/ folder.
 */
export { z } from 'zod';
export { defineTool, type Tool, type ToolContext, type ToolSpecInput, type DedupPolicy } from './tools/define.ts';
export { defineEvaluator, type EvaluatorDefinition, type CustomVerdict } from './judge/define.ts';
export type { Material } from './judge/material.ts';
export { defineScorePolicy, type ScorePolicyDefinition, type ScoreEvent, type PolicyActions } from './judge/policy.ts';
export type { EffectClass, Entry, EntryKind, EntryPayloads } from './core/entries.ts';
export type { StoredEvent, EventFilter, SessionOptions } from './core/events.ts';
export { App, type AppOptions } from './app/app.ts';
export { loadWorkspace, type Workspace } from './app/workspace.ts';
export type { Engine } from './engine/engine.ts';
export type { SessionRuntime } from './engine/session/runtime.ts';
export type { ModelProvider, ModelRequest, ModelResponse, ChatMessage, ToolSpec } from './models/provider.ts';
export { P2Error, UserError, ValidationError, StoreError, ProviderError } from './core/errors.ts';
