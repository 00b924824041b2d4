import type { JsonObject, JsonValue } from '../../core/json.ts';
import { isJsonObject } from '../../core/json.ts';
import type { ToolSpec } from '../provider.ts';

/**
 * The simulator's reading of plain language: splitting a task into clauses, matching clauses to tools and agents by
 * the words of their names and descriptions, and pulling argument values out of a clause. Deliberately simple and
 * fully deterministic; it only has to make the demo agents behave plausibly.
 */
const STOPWORDS = new Set(
  [
    'a an the and or but if then than of in on at to for from by with about as is are was were be been',
    'being do does did what whats who whom whose which when where why how please can could would should',
    'will shall may might must i me my you your we our it its this that these those there here some any',
    'all each every no not just also get set give tell ask show find let lets me current right now today',
  ]
    .join(' ')
    .split(' '),
);

const QUESTION_WORDS = new Set([
  'What',
  'Who',
  'How',
  'When',
  'Where',
  'Why',
  'Which',
  'Please',
  'Ask',
  'Tell',
  'Find',
  'Show',
  'Give',
  'Get',
  'Check',
  'Can',
  'Could',
  'Would',
  'I',
  'The',
  'And',
  'Then',
  'Is',
  'Are',
  'Do',
  'Does',
  'Also',
  'Send',
  'Write',
  'Compute',
  'Calculate',
  'Plan',
  'Issue',
]);

export function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/'s\b/g, '')
    .split(/[^a-z0-9_]+/)
    .filter((w) => w.length > 1 && !STOPWORDS.has(w))
    .map(stem);
}

function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

/** A plain "and" starts a new clause only before one of these words. */
const CLAUSE_STARTS = /ask|tell|check|find|get|what|who|how|compute|calculate|write|send|issue|have|let/.source;
const BREAKS = [
  ';',
  String.raw`,?\s*\band then\b`,
  String.raw`,?\s*\bthen\b`,
  String.raw`\band also\b`,
  String.raw`,?\s*\b(?:after that|afterwards|finally)\b,?`,
  String.raw`\band\b(?=\s+(?:${CLAUSE_STARTS})\b)`,
  String.raw`\.\s+`,
  String.raw`\?\s+`,
  String.raw`\n`,
  // Numbered steps: "1. …", "2) …" (not "12.50").
  String.raw`(?:^|\s)\(?\d{1,2}[.)](?=\s+[A-Za-z])`,
];
const CLAUSE_BREAK = new RegExp(String.raw`\s*(?:${BREAKS.join('|')})\s*`, 'i');

/**
 * Splits a task into the parts a coordinator might hand to different agents: at ";", "then", "and then", "after
 * that", "finally", sentence ends, new lines, numbered steps ("1. … 2. …", "1) …") and "and" before a verb.
 */
export function clauses(task: string): string[] {
  return task
    .split(CLAUSE_BREAK)
    .map((c) => (c ?? '').trim().replace(/[.?!,:]+$/, ''))
    .filter((c) => c.length > 0);
}

/** An amount of money or units in a text: "$12.50", "12.50 dollars", "5 units", "3 credits", "€7", "15 USD". */
export interface Amount {
  readonly value: number;
  /** As the text wrote it ("$12.50", "5 units"), for answers that restate it. */
  readonly text: string;
}

const UNIT = String.raw`(?:units?|credits?|coins?|tokens?|points?|dollars?|euros?|usd|eur|cents?)`;
const AMOUNT = new RegExp(String.raw`([$€£])\s?(\d+(?:\.\d+)?)|\b(\d+(?:\.\d+)?)\s*(${UNIT})\b`, 'i');

export function amountIn(text: string): Amount | undefined {
  const m = AMOUNT.exec(text);
  if (m === null) return undefined;
  const value = Number(m[2] ?? m[3]);
  return Number.isFinite(value) ? { value, text: m[0].trim() } : undefined;
}

export interface Candidate {
  readonly name: string;
  readonly kind: 'tool' | 'agent';
  readonly keywords: ReadonlySet<string>;
}

export function toolCandidate(spec: ToolSpec): Candidate {
  return {
    name: spec.name,
    kind: 'tool',
    keywords: new Set([...words(spec.name.replace(/_/g, ' ')), ...words(spec.description)]),
  };
}

export function agentCandidate(name: string, description: string): Candidate {
  return { name, kind: 'agent', keywords: new Set([...words(name.replace(/_/g, ' ')), ...words(description)]) };
}

/**
 * The candidate whose words a clause shares most, with an explicit mention of an agent winning outright: the agent
 * named first ("have treasurer pay agent_helper" goes to the treasurer, whatever order the agents are listed in).
 */
export function route(clause: string, candidates: readonly Candidate[]): Candidate | undefined {
  const lower = clause.toLowerCase();
  const mentions = candidates.flatMap((c) => {
    const at = c.kind === 'agent' ? lower.search(new RegExp(`\\b${escapeRegExp(c.name.toLowerCase())}\\b`)) : -1;
    return at < 0 ? [] : [{ c, at }];
  });
  const mentioned = mentions.sort((a, b) => a.at - b.at)[0]?.c;
  if (mentioned !== undefined) return mentioned;
  const clauseWords = new Set(words(clause));
  let best: Candidate | undefined;
  let bestScore = 0;
  for (const candidate of candidates) {
    let score = 0;
    for (const w of clauseWords) if (candidate.keywords.has(w)) score += 1;
    // Prefer doing it yourself over delegating when both fit equally.
    if (
      score > bestScore ||
      (score === bestScore && score > 0 && best?.kind === 'agent' && candidate.kind === 'tool')
    ) {
      best = candidate;
      bestScore = score;
    }
  }
  return bestScore > 0 ? best : undefined;
}

const TEXT_PROPS =
  /^(message|text|query|question|content|note|task|body|description|prompt|topic|subject|memo|request|details?|reason|purpose)$/i;
const PLACE_PROPS = /^(location|city|place|where|destination|region|country)$/i;
const AMOUNT_PROPS = /^(amount|value|price|cost|total|sum|fee|payment)$/i;
const AGENT_PROPS = /^(agent|agent_id|to|to_agent|recipient|from|payee|beneficiary)$/i;

export type Extraction = { ok: true; args: JsonObject } | { ok: false; missing: string };

/** Fills a tool's required (and obviously present optional) arguments from a clause. */
export function extractArgs(clause: string, spec: ToolSpec, self: string): Extraction {
  const schema = spec.parameters;
  const properties = isJsonObject(schema['properties']) ? schema['properties'] : {};
  const required = Array.isArray(schema['required'])
    ? schema['required'].filter((r): r is string => typeof r === 'string')
    : [];
  const numbers = [...clause.matchAll(/-?\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));
  const args: JsonObject = {};
  for (const [name, propValue] of Object.entries(properties)) {
    const prop = isJsonObject(propValue) ? propValue : {};
    const value = extractOne(name, prop, clause, numbers, self);
    if (value !== undefined) args[name] = value;
    else if (required.includes(name)) return { ok: false, missing: name };
  }
  return { ok: true, args };
}

function extractOne(
  name: string,
  prop: JsonObject,
  clause: string,
  numbers: number[],
  self: string,
): JsonValue | undefined {
  const type = prop['type'];
  const enumValues = Array.isArray(prop['enum'])
    ? prop['enum'].filter((e): e is string => typeof e === 'string')
    : undefined;
  if (enumValues !== undefined) {
    const lower = clause.toLowerCase();
    return enumValues.find((e) => lower.includes(e.toLowerCase())) ?? (prop['default'] as JsonValue | undefined);
  }
  if (AMOUNT_PROPS.test(name)) {
    // "$12.50", "5 units", "3 credits": the amount the clause names, else its first number.
    const amount = amountIn(clause);
    const n = amount?.value ?? numbers[0];
    if (n === undefined) return prop['default'] as JsonValue | undefined;
    if (numbers.includes(n)) numbers.splice(numbers.indexOf(n), 1);
    if (type === 'string') return String(n);
    return type === 'integer' ? Math.round(n) : n;
  }
  if (type === 'number' || type === 'integer') {
    const n = numbers.shift();
    if (n === undefined) return prop['default'] as JsonValue | undefined;
    return type === 'integer' ? Math.round(n) : n;
  }
  if (type === 'boolean') return prop['default'] as JsonValue | undefined;
  if (type !== 'string' && type !== undefined) return prop['default'] as JsonValue | undefined;
  if (name === 'expression') {
    const match = clause.match(/[-+*/().\d\s^%]*\d[-+*/().\d\s^%]*[-+*/^%][-+*/().\d\s^%]*\d[-+*/().\d\s^%]*/);
    return match?.[0].trim();
  }
  if (AGENT_PROPS.test(name)) {
    const agent = [...clause.matchAll(/\b[a-z][a-z0-9]*_[a-z0-9_]+\b/g)].map((m) => m[0]).find((a) => a !== self);
    return agent ?? plainAgent(clause, self) ?? (prop['default'] as JsonValue | undefined);
  }
  if (TEXT_PROPS.test(name)) return quotedOrAfterColon(clause) ?? clause;
  if (PLACE_PROPS.test(name)) return placeName(clause) ?? (prop['default'] as JsonValue | undefined);
  return properNoun(clause) ?? (prop['default'] as JsonValue | undefined);
}

/** An agent id without "_" is read where a payee stands: "transfer 5 units to bob", "pay bob 5". */
function plainAgent(clause: string, self: string): string | undefined {
  const m = clause.match(/\b(?:to|pay|reward|for)\s+([a-z][a-z0-9-]*)\b/);
  const id = m?.[1];
  return id === undefined || id === self || STOPWORDS.has(id) || NOT_AGENTS.has(id) ? undefined : id;
}

/** Words that follow "to"/"for"/"pay" in tasks without naming an agent ("to get", "for work", "pay someone"). */
const NOT_AGENTS = new Set(
  [
    'get find check look see know make pay send write read compute calculate work report notes help them him her us',
    'someone somebody anyone anybody everyone everybody nobody people team user person',
  ]
    .join(' ')
    .split(' '),
);

/** The part of a clause that is clearly the text argument: a quotation, or what follows a colon. */
function quotedOrAfterColon(clause: string): string | undefined {
  const quoted = clause.match(/["“]([^"”]+)["”]/);
  if (quoted !== null) return quoted[1];
  const colon = clause.indexOf(': ');
  return colon > 0 ? clause.slice(colon + 2).trim() || undefined : undefined;
}

/** "weather in New York" → "New York". */
export function placeName(clause: string): string | undefined {
  const after = clause.match(/\b(?:in|for|at|near|of|to)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)/);
  if (after !== null) return after[1];
  return properNoun(clause);
}

/**
 * Every place a clause lists after "in"/"for"/"at": "weather in Paris, Tokyo and San Francisco" → the three, so a
 * tool that takes one place is called once for each (a list of one is `placeName`'s answer).
 */
export function placeNames(clause: string): string[] {
  const cap = String.raw`[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*`;
  const list = new RegExp(String.raw`\b(?:in|for|at|near|of|to)\s+(${cap}(?:\s*(?:,|,?\s+and|,?\s+or|&)\s+${cap})*)`);
  const m = clause.match(list);
  if (m === null) return [];
  return unique(
    m[1]!
      .split(/\s*(?:,|\band\b|\bor\b|&)\s*/)
      .map((p) => p.trim())
      .filter((p) => p.length > 0),
  );
}

/**
 * The calls a clause needs of one tool: one per listed place when the tool takes a single place ("the weather in
 * Paris, Tokyo and San Francisco" is three `get_weather` calls), else the one call as extracted.
 */
export function perPlace(args: JsonObject, clause: string): JsonObject[] {
  const key = Object.keys(args).find((k) => PLACE_PROPS.test(k) && typeof args[k] === 'string');
  const places = key === undefined ? [] : placeNames(clause);
  if (key === undefined || places.length < 2 || !places.includes(String(args[key]))) return [args];
  return places.map((place) => ({ ...args, [key]: place }));
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** The first run of capitalised words that is not a question word or an agent id. */
export function properNoun(clause: string): string | undefined {
  for (const match of clause.matchAll(/\b[A-Z][\w'-]*(?:\s+(?:[A-Z0-9][\w'-]*|de|of|la|del))*\b/g)) {
    const parts = match[0].split(/\s+/).filter((p) => !QUESTION_WORDS.has(p.replace(/'s$/, '')));
    const phrase = parts.join(' ').replace(/'s$/, '').trim();
    if (phrase.length > 1 && !phrase.includes('_')) return phrase;
  }
  return undefined;
}

/** A short human reading of a tool's JSON output. */
export function summarize(value: JsonValue | undefined, max = 160): string {
  let text: string;
  if (value === undefined || value === null) text = 'nothing';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value))
    text = value
      .slice(0, 3)
      .map((v) => summarize(v, 60))
      .join('; ');
  else {
    const preferred = ['summary', 'answer', 'text', 'message', 'result'].find((k) => typeof value[k] === 'string');
    text =
      preferred !== undefined
        ? String(value[preferred])
        : Object.entries(value)
            .slice(0, 5)
            .map(([k, v]) => `${k.replace(/_/g, ' ')} ${typeof v === 'object' ? summarize(v, 40) : String(v)}`)
            .join(', ');
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Parses `agent: description` lines from the delegate tool's `agent` property description. */
export function delegateTargets(spec: ToolSpec): { name: string; description: string }[] {
  const properties = isJsonObject(spec.parameters['properties']) ? spec.parameters['properties'] : {};
  const agent = properties['agent'];
  if (!isJsonObject(agent)) return [];
  const names = Array.isArray(agent['enum']) ? agent['enum'].filter((e): e is string => typeof e === 'string') : [];
  const description = typeof agent['description'] === 'string' ? agent['description'] : '';
  return names.map((name) => {
    const line = description.split('\n').find((l) => l.trim().startsWith(`${name}:`));
    return { name, description: line === undefined ? '' : line.slice(line.indexOf(':') + 1).trim() };
  });
}
