import type { CriterionResult } from '../store/scores.ts';
import type { Material } from './material.ts';
import type { Rubric } from './rubric.ts';
import { scriptedTextJudge } from './scripted-text-judge.ts';

/**
 * The offline judge: scores each criterion of a rubric deterministically from the content, so evaluation works
 * with no model at all. It is labelled "scripted judge" wherever its scores are shown; it measures overlap and
 * shape, not truth. Per criterion:
 *
 *   0.30 × how much of the task's vocabulary the answer (and the tools used) take up
 *   0.50 × what the criterion asks for, read from its id and description (below)
 *   0.20 × substance: an empty answer scores 0, a few words little, a reasonable length (or any, for brevity) fully
 *
 * What a criterion asks for, first match wins: tools (the share of tool calls that succeeded), delegation (whether
 * it delegated), relevance ("relevant", "on topic", "addresses the task": the task's vocabulary taken up), brevity
 * ("concise", "brief", "short", "succinct", "terse", "one sentence", "to the point": 1 up to 25 words, falling to 0
 * at 175), detail ("detailed", "thorough", "comprehensive", "complete", "in depth", "explain": the answer's length
 * over 150 words, up to 1), errors ("error", "fail", "correct", "accurate": failed calls and an unfinished run lower
 * it), and otherwise the criterion's own words: the share of them the answer shows — or, for words after "avoid",
 * "without", "never", "not mention" or "no", the share it does not show. A brevity or detail criterion that also
 * names three or more content words ("gives the weather in Paris, Tokyo and San Francisco, and is concise") counts
 * them too, half and half. An answer that declines the task ("I cannot…", "none of my tools…") scores 0.4 of that,
 * and the clauses an answer says it did not get to (`I did not get to "…"`) count for nothing.
 * A `.jinja` rubric whose text states requirements the prose reader knows is scored by those instead.
 */
export function scriptedJudge(rubric: Rubric, m: Material): { criteria: CriterionResult[]; value: number } {
  // A rubric written as prose (a `.jinja` file) is read for the requirements it states (scripted-text-judge.ts).
  const prose = rubric.verbatim === undefined ? null : scriptedTextJudge(rubric.verbatim, m.answer);
  if (prose !== null && rubric.criteria.length === 1) {
    const only = rubric.criteria[0]!;
    return {
      criteria: [{ id: only.id, weight: only.weight, score: prose.score, reason: prose.reason }],
      value: prose.score,
    };
  }
  // A part the simulator says it did not do quotes the task's words: they do not count as taken up.
  const answerWords = words(m.answer.replace(NOT_DONE, ' '));
  // The task counts as taken up by the answer, and by the tools used for it ("weather" by get_weather).
  const toolWords = m.toolCalls.flatMap((c) => words(c.tool.replace(/_/g, ' ')));
  const answerSet = new Set([...answerWords, ...toolWords]);
  const taskWords = unique(words(m.task));
  const taskCovered = taskWords.filter((w) => answerSet.has(w));
  const taskScore = taskWords.length === 0 ? 1 : taskCovered.length / taskWords.length;
  const substance =
    answerWords.length === 0
      ? 0
      : answerWords.length < 3
        ? 0.3
        : answerWords.length > 600
          ? 0.7
          : Math.min(1, 0.5 + answerWords.length / 24);
  // An answer that says it cannot help repeats the task's words without doing it: it scores far lower.
  const declines = DECLINES.test(m.answer);
  const seen = new Set([...answerWords, ...toolWords, ...m.delegations.flatMap((a) => words(a))]);
  const n = answerWords.length;
  const criteria = rubric.criteria.map((c): CriterionResult => {
    const text = `${c.id} ${c.description}`.toLowerCase();
    let aspect: number;
    let aspectWhy: string;
    if (/\btools?\b/.test(text)) {
      const ok = m.toolCalls.filter((t) => t.status === 'ok').length;
      aspect = m.toolCalls.length === 0 ? (m.finished ? 1 : 0.5) : ok / m.toolCalls.length;
      aspectWhy = m.toolCalls.length === 0 ? 'no tool calls' : `${ok}/${m.toolCalls.length} tool calls ok`;
    } else if (/delegat/.test(text)) {
      aspect = m.delegations.length > 0 ? 1 : 0.3;
      aspectWhy = m.delegations.length > 0 ? `delegated to ${m.delegations.join(', ')}` : 'no delegation';
    } else if (/\b(relevan\w*|on[- ]topic|addresses the (?:task|question))\b/.test(text)) {
      // Relevance is how much of what was asked the answer takes up (a skipped clause's words do not count).
      aspect = taskScore;
      aspectWhy = `addresses ${taskCovered.length}/${taskWords.length} of the task's terms`;
    } else if (BREVITY.test(text) || DETAIL.test(text)) {
      const brief = BREVITY.test(text);
      aspect = brief ? (n <= 25 ? 1 : Math.max(0, 1 - (n - 25) / 150)) : Math.min(1, n / 150);
      aspectWhy = brief
        ? n <= 25
          ? 'brief (25 words or fewer)'
          : `asks for brevity, ${n} words`
        : n >= 150
          ? 'detailed (150 words or more)'
          : `asks for detail, ${n} of 150 words`;
      // A criterion that also names what the answer should contain ("gives the weather in Paris and Tokyo, and is
      // concise") is read both ways, half each: a short answer that leaves out what was asked is not a good one.
      const [wanted, unwanted] = termsOf(c.description.replace(brief ? BREVITY_WORDS : DETAIL_WORDS, ' '));
      const content = wanted.filter((w) => !GENERIC.has(w));
      if (content.length >= 3) {
        const shown = content.filter((w) => seen.has(w)).length;
        const avoided = unwanted.filter((w) => !seen.has(w)).length;
        aspect = 0.5 * aspect + (0.5 * (shown + avoided)) / (content.length + unwanted.length);
        aspectWhy +=
          `, ${shown}/${content.length} of its terms` +
          (unwanted.length === 0 ? '' : `, ${avoided}/${unwanted.length} avoided`);
      }
    } else if (/\b(error|fail|correct|accura)/.test(text)) {
      const failures = m.toolCalls.filter((t) => t.status !== null && t.status !== 'ok').length + (m.finished ? 0 : 1);
      aspect = failures === 0 ? 1 : Math.max(0, 1 - failures / 3);
      aspectWhy = failures === 0 ? 'no failed calls, finished' : `${failures} failure${failures === 1 ? '' : 's'}`;
    } else {
      const [wanted, unwanted] = termsOf(c.description);
      const shown = wanted.filter((w) => seen.has(w)).length;
      const avoided = unwanted.filter((w) => !seen.has(w)).length;
      const total = wanted.length + unwanted.length;
      aspect = total === 0 ? 1 : (shown + avoided) / total;
      aspectWhy =
        `${shown}/${wanted.length} of its terms` +
        (unwanted.length === 0 ? '' : `, ${avoided}/${unwanted.length} avoided`);
    }
    // A criterion asking for brevity does not hold a few words against the answer (the 0.3 for under three stays).
    const sub = BREVITY.test(text) && n >= 3 ? 1 : substance;
    const score = round((0.3 * taskScore + 0.5 * aspect + 0.2 * sub) * (declines ? 0.4 : 1));
    const terms = `task terms ${taskCovered.length}/${taskWords.length}`;
    const declined = declines ? ', declines the task' : '';
    return {
      id: c.id,
      weight: c.weight,
      score,
      reason: `${terms}, ${aspectWhy}${/ words\b/.test(aspectWhy) ? '' : `, ${n} words`}${declined} (scripted judge)`,
    };
  });
  return { criteria, value: weightedMean(criteria) };
}

const NOT_DONE = /(?:I did not get to|None of my tools covers) "[^"]*"/g;

const BREVITY_SOURCE = String.raw`\b(concise|concisely|brief|briefly|brevity|short|shorter|succinct|terse|one sentence|to the point)\b`;
const DETAIL_SOURCE = String.raw`\b(detailed|details?|thorough|thoroughly|comprehensive|complete|in depth|in-depth|elaborate|explains?|explanation)\b`;
const BREVITY = new RegExp(BREVITY_SOURCE);
const DETAIL = new RegExp(DETAIL_SOURCE);
const BREVITY_WORDS = new RegExp(BREVITY_SOURCE, 'gi');
const DETAIL_WORDS = new RegExp(DETAIL_SOURCE, 'gi');
/** Words any criterion says ("the answer is clear"): not content the answer has to show. */
const GENERIC = new Set([
  'answer',
  'response',
  'reply',
  'clear',
  'clearly',
  'every',
  'step',
  'steps',
  'explaining',
  'given',
  'gives',
  'says',
]);

/** A criterion's own words: those it wants, and those after a negation ("avoid jargon", "without apologies"). */
function termsOf(description: string): [string[], string[]] {
  const [before, ...after] = description.split(/\b(?:avoids?|avoiding|without|never|not mention|no)\b/i);
  const unwanted = unique(words(after.join(' ')));
  const wanted = unique(words(before ?? '')).filter((w) => !unwanted.includes(w));
  return [wanted, unwanted];
}

/** The weighted mean of criterion scores (weights normalised, so a rubric whose weights miss 1 still averages). */
export function weightedMean(criteria: readonly CriterionResult[]): number {
  const scored = criteria.filter((c) => c.score !== null);
  const total = scored.reduce((n, c) => n + (c.weight ?? 1), 0);
  if (total === 0) return scored.length === 0 ? 0 : round(scored.reduce((n, c) => n + c.score!, 0) / scored.length);
  return round(scored.reduce((n, c) => n + c.score! * (c.weight ?? 1), 0) / total);
}

const DECLINES = /\b(?:cannot|can't|can not|unable to|not able to|don't have|do not have|no tool|none of my tools)\b/i;

const STOP = new Set(
  [
    'the and for are but not you all any can had her was one our out day get has him his how man new now',
    'old see two way who boy did its let put say she too use that with have this will your from they know',
    'want been good much some time very when come here just like long make many over such take than them',
    'well were what into more also then there their which would about could other these those should',
    'while where after before being does each most only same both very please',
  ]
    .join(' ')
    .split(' '),
);

function words(text: string): string[] {
  // Numbers count whatever their length: "42" is the answer to "6 * 7".
  return (text.toLowerCase().match(/[a-z0-9][a-z0-9_'.-]*[a-z0-9]|[a-z0-9]/g) ?? []).filter(
    (w) => (w.length >= 3 || /^\d/.test(w)) && !STOP.has(w),
  );
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
