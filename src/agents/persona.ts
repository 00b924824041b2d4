import { z } from 'zod';
import { scriptRuleSchema } from '../models/scripted/script.ts';

/**
 * A persona: an agent's definition, from `personas/<id>.yaml` or `personas/<id>.md` (YAML front matter, the body
 * is the system prompt).
 */
export const PERSONA_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

const decimal = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?$/, 'a non-negative decimal such as "100" or "12.50"'),
]);

export const policiesSchema = z.strictObject({
  /** Model calls this agent may make in one conversation. */
  max_steps: z.int().min(1).max(100_000).optional(),
  /** How deep delegations started by this agent may nest. */
  max_depth: z.int().min(1).max(32).optional(),
  /** Policy for repeats of the same effectful call (overrides the tool's own). */
  dedup: z.enum(['none', 'penalty', 'strict']).optional(),
  /** Delegating again to an agent continues its earlier conversation instead of starting a new one. */
  reuse_children: z.boolean().optional(),
  /** Whether this agent may ask the user questions (the ask_user tool). */
  ask_user: z.boolean().optional(),
  tool_timeout_ms: z.int().min(1).optional(),
  model_timeout_ms: z.int().min(1).optional(),
  delegation_timeout_ms: z.int().min(1).optional(),
  user_timeout_ms: z.int().min(1).optional(),
  /** This agent's context window in tokens (default: the model's, from p2tui.yaml or the built-in table). */
  context_tokens: z.int().min(256).max(100_000_000).optional(),
  /**
   * What this agent may spend from its wallet (transfer_funds, open_escrow): per payment, per session and per UTC
   * day, and above which amount a payment needs a person's approval (asked in the CLI and TUI; settled by the
   * session's approval policy when nobody is at a terminal).
   */
  spend: z
    .strictObject({
      per_transfer: decimal.optional(),
      per_session: decimal.optional(),
      per_day: decimal.optional(),
      approval_above: decimal.optional(),
    })
    .optional(),
  /** Tools of this agent that run only once a person approves each call (or the session's approval policy does). */
  approve_tools: z.array(z.string().min(1)).optional(),
});

export type SpendPolicy = NonNullable<z.output<typeof policiesSchema>['spend']>;

export const personaSchema = z.strictObject({
  id: z.string().regex(PERSONA_ID, 'letters, digits, _ and -, starting with a letter'),
  description: z.string().min(1, 'describe what the agent does: coordinators route work by it'),
  model: z
    .string()
    .regex(/^[^/\s]+\/\S+$/, 'provider/name, e.g. scripted/default')
    .optional(),
  temperature: z.number().min(0).max(2).optional(),
  /** Sent to the model with every request of this agent (nucleus sampling; the longest answer in tokens). */
  top_p: z.number().min(0).max(1).optional(),
  max_tokens: z.int().min(1).optional(),
  system: z.string().optional(),
  vars: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  tools: z.array(z.string()).optional(),
  agents: z.array(z.string()).optional(),
  policies: policiesSchema.optional(),
  /** Starting wallet balance (a decimal; exact arithmetic, never floating point). */
  balance: decimal.optional(),
  /** Rules for the scripted simulator; ignored by real models. */
  script: z.array(scriptRuleSchema).optional(),
});

export type PersonaFile = z.output<typeof personaSchema>;
export type Policies = z.output<typeof policiesSchema>;

export interface Persona {
  readonly id: string;
  readonly description: string;
  /** `provider/name`; the workspace default when the file names none. */
  readonly model: string;
  readonly temperature: number;
  /** Absent: the model's defaults (not sent). */
  readonly topP?: number;
  readonly maxTokens?: number;
  readonly systemTemplate: string;
  readonly vars: Readonly<Record<string, string>>;
  readonly tools: readonly string[];
  readonly agents: readonly string[];
  readonly policies: Required<Omit<Policies, 'dedup' | 'context_tokens' | 'spend' | 'approve_tools'>> & {
    readonly dedup: Policies['dedup'];
    readonly context_tokens: number | undefined;
    readonly spend: SpendPolicy | undefined;
    readonly approve_tools?: readonly string[] | undefined;
  };
  readonly balance: string | undefined;
  readonly script: PersonaFile['script'] & object;
  /** The file it came from, relative to the workspace. */
  readonly source: string;
}

export const DEFAULT_POLICIES: Persona['policies'] = {
  max_steps: 50,
  max_depth: 5,
  dedup: undefined,
  context_tokens: undefined,
  spend: undefined,
  reuse_children: false,
  ask_user: true,
  tool_timeout_ms: 30_000,
  model_timeout_ms: 120_000,
  delegation_timeout_ms: 10 * 60_000,
  user_timeout_ms: 30 * 60_000,
};

export const DEFAULT_SYSTEM = 'You are {{id}}: {{description}}';
