import type { Persona } from '../agents/persona.ts';
import { sha256 } from '../core/hash.ts';
import { canonicalJson } from '../core/json.ts';
import type { ToolSpec } from '../models/provider.ts';
import { toolSpecsFor } from './tool-specs.ts';
import type { PersonaPort, ToolPort } from './ports.ts';

export interface PersonaKitEntry {
  /** The tools the persona's model sees, built-ins included. */
  readonly specs: ToolSpec[];
  /** Hash of the specs and the script: part of every request hash, computed once. */
  readonly hash: string;
  readonly system: string;
}

/** What a persona needs at every step (tool specs, system prompt), built once per persona and engine. */
export class PersonaKit {
  // By persona object: a branch that overrides a persona (another system prompt or tools) gets its own entry.
  private readonly cache = new WeakMap<Persona, PersonaKitEntry>();
  private readonly personas: PersonaPort;
  private readonly tools: ToolPort;

  constructor(personas: PersonaPort, tools: ToolPort) {
    this.personas = personas;
    this.tools = tools;
  }

  for(persona: Persona): PersonaKitEntry {
    let entry = this.cache.get(persona);
    if (entry === undefined) {
      const personas = this.personas.all;
      const specs = toolSpecsFor(persona, personas, this.tools);
      const delegates = persona.agents.map((id) => ({ id, description: personas.get(id)?.description ?? '' }));
      const system = this.personas.systemPrompt(persona, delegates, persona.policies.ask_user);
      entry = { specs, hash: sha256(canonicalJson({ specs, script: persona.script })), system };
      this.cache.set(persona, entry);
    }
    return entry;
  }
}
