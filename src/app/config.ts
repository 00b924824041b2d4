import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseYamlWith } from '../core/yaml-schema.ts';
import { mcpServerSchema } from '../tools/mcp-config.ts';
import { judgeConfigSchema } from '../judge/config.ts';
import { DEFAULT_INLINE_BYTES } from '../engine/tool-runner.ts';
import { EFFECTS_POLICIES, type EffectsPolicy } from '../engine/effects-policy.ts';
import { modelRefSchema } from '../models/model-ref.ts';

/** `p2tui.yaml`: optional; every field has a default that runs offline. */
export const workspaceConfigSchema = z.strictObject({
  /** Model for personas that name none. */
  model: modelRefSchema('scripted/default').default('scripted/default'),
  temperature: z.number().min(0).max(2).optional(),
  /** How questions from agents are answered when nobody is at a terminal. */
  approval: z.enum(['deny', 'approve', 'ask']).default('ask'),
  /**
   * What effectful tool calls do in new sessions: live (run them), dry-run (do not; `simulate` or a skipped result,
   * ledger tools pay in a scratch scope), ask (a person approves each). A fork's `--effects` beats it on its branch.
   */
  effects: z.enum(EFFECTS_POLICIES as readonly [EffectsPolicy, ...EffectsPolicy[]]).default('live'),
  /** Steps (model calls) the scheduler runs at once, across all sessions. */
  concurrency: z.int().min(1).max(10_000).default(32),
  /** Step budget of a session (model calls over all its conversations). */
  max_steps: z.int().min(1).max(1_000_000).default(200),
  providers: z
    .record(
      z.string(),
      z.strictObject({
        /** openai: any OpenAI-compatible server; ollama. Optional for the built-in scripted, openai and ollama. */
        type: z.enum(['scripted', 'openai', 'ollama']).optional(),
        base_url: z.url().optional(),
        /** Ollama's address (OLLAMA_HOST by default). */
        host: z.string().min(1).optional(),
        /** The environment variable holding the key (OPENAI_API_KEY for openai). */
        api_key_env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
          .optional(),
        /** A key written here (prefer api_key_env and .env: a key in p2tui.yaml ends up in version control). */
        api_key: z.string().min(1).optional(),
        concurrency: z.int().min(1).max(10_000).optional(),
        /** Requests per minute. */
        rpm: z.int().min(1).max(1_000_000).optional(),
        max_retries: z.int().min(0).max(20).optional(),
        retry_base_ms: z.int().min(1).max(60_000).optional(),
        stream: z.boolean().optional(),
        /** Context window of this provider's models, in tokens (over the built-in table's provider entry). */
        context_tokens: z.int().min(256).max(100_000_000).optional(),
        latency_ms: z.int().min(0).max(600_000).optional(),
      }),
    )
    .default({}),
  /** Prices in USD per million tokens, by provider/model or provider/* (over the built-in table). */
  prices: z
    .record(
      z.string().regex(/^[^/\s]+\/\S+$/, 'provider/model or provider/*'),
      z.strictObject({ input: z.number().min(0), output: z.number().min(0) }),
    )
    .default({}),
  /** Model Context Protocol servers whose tools personas may use (as `<server>__<tool>`). */
  mcp_servers: z
    .record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, 'letters, digits, _ and -, starting with a letter'),
      mcpServerSchema,
    )
    .default({}),
  /** The judge: evaluators (rubrics scored by a model, assertions, custom code), when they run, the judge model. */
  judge: judgeConfigSchema.prefault({}),
  /** The ledger: how escrows that pay a delegate on delivery are settled. */
  ledger: z
    .strictObject({
      /**
       * An escrow an agent opens for a delegate (open_escrow) is released when this evaluator scores the delegate's
       * conversation at or above `threshold`, and refunded when it scores below; a judge failure leaves it open.
       */
      escrow: z.strictObject({ evaluator: z.string().min(1), threshold: z.number().min(0).max(1) }).optional(),
      /**
       * Keep the wallets on a Canton participant (its JSON Ledger API v2, with the daml/ package uploaded) instead of
       * the embedded ledger. The token is read from the environment variable `token_env` names, never from here.
       */
      canton: z
        .strictObject({
          url: z.url({ protocol: /^https?$/ }),
          token_env: z
            .string()
            .regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name')
            .optional(),
          user: z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
  /** Sizes: what is stored and sent to models inline, and what becomes an artifact with a preview. */
  limits: z
    .strictObject({
      /**
       * A tool's output, error or arguments larger than this many bytes (of JSON) is stored once as an artifact; the
       * entry, and so the model, keeps a preview of 2,000 characters with a note naming the artifact.
       */
      inline_bytes: z
        .int()
        .min(1, 'must be a positive number of bytes (16384 by default)')
        .max(1024 * 1024 * 1024, 'must be at most 1073741824 bytes (1 GiB)')
        .default(DEFAULT_INLINE_BYTES),
    })
    .prefault({}),
  /** Database path, relative to the workspace. */
  database: z.string().min(1).default('.p2tui/p2tui.db'),
  /**
   * normal: a commit survives a killed process, not a power cut (SQLite WAL with synchronous=NORMAL). full: it
   * survives a power cut too, at the cost of a disk sync per commit (see BENCHMARKS.md). P2TUI_DURABILITY overrides.
   */
  durability: z.enum(['normal', 'full']).default('normal'),
  /**
   * OpenTelemetry: sessions this process drives are exported live, as GenAI traces, to this OTLP/HTTP collector.
   * The standard OTEL_EXPORTER_OTLP_* variables win over these fields.
   */
  otel: z
    .strictObject({
      /** The collector's traces URL, used as given (http://localhost:4318/v1/traces for a local collector). */
      endpoint: z.url({ protocol: /^https?$/ }).optional(),
      headers: z.record(z.string(), z.string()).optional(),
      protocol: z.enum(['http/protobuf', 'http/json']).optional(),
      /** Message contents (prompts, replies, tool arguments and results) in the spans; off by default. */
      capture_content: z.boolean().default(false),
    })
    .optional(),
});

export type WorkspaceConfig = z.output<typeof workspaceConfigSchema>;

export function isWorkspace(root: string): boolean {
  return existsSync(join(root, 'p2tui.yaml')) || existsSync(join(root, 'personas'));
}

export function readWorkspaceConfig(root: string): { config: WorkspaceConfig; file: string | undefined } {
  const file = join(root, 'p2tui.yaml');
  if (!existsSync(file)) return { config: workspaceConfigSchema.parse({}), file: undefined };
  const parsed = parseYamlWith(workspaceConfigSchema, readFileSync(file, 'utf8'), 'p2tui.yaml', {
    code: 'E_CONFIG',
    hint: 'Fix p2tui.yaml.',
  });
  return { config: parsed.value, file };
}
