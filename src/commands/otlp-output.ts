import { UserError } from '../core/errors.ts';
import type { TraceSpan } from '../telemetry/spans.ts';
import { writeOutFile } from './shared.ts';
import type { CommandContext } from './types.ts';

/** The options `session export` and `rollout export` take for `--format otlp`. */
export const OTLP_OPTIONS = {
  endpoint: {
    type: 'string',
    value: '<url>',
    description:
      'With --format otlp: send the spans to this OTLP/HTTP collector (default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces)',
  },
  'capture-content': {
    type: 'boolean',
    description: 'With --format otlp: put message contents (prompts, replies, tool arguments and results) in the spans',
  },
} as const;

/** Refuses OTLP-only options with another format, and --out with --endpoint (usage errors, before anything is read). */
export function checkOtlpOptions(
  format: string,
  options: { out?: string; endpoint?: string; 'capture-content'?: boolean },
): void {
  if (format !== 'otlp' && (options.endpoint !== undefined || options['capture-content'] === true)) {
    throw new UserError('E_USAGE', `--endpoint and --capture-content go with --format otlp, not --format ${format}`, {
      hint: 'Add --format otlp, or leave those options out.',
    });
  }
  if (options.out !== undefined && options.endpoint !== undefined) {
    throw new UserError(
      'E_USAGE',
      '--out and --endpoint cannot be given together: the spans go to a file or to a collector',
      {
        hint: 'Keep one of them.',
      },
    );
  }
}

/**
 * The spans to where the command line (or the environment) says: an OTLP/JSON file with --out, a collector with
 * --endpoint or the OTEL_EXPORTER_OTLP_* variables, else OTLP/JSON on stdout. Returns what to tell the user.
 */
export async function deliverSpans(
  ctx: CommandContext,
  spans: readonly TraceSpan[],
  options: { out?: string; endpoint?: string },
): Promise<{ to: string; spans: number; traces: number }> {
  const { otlpJson, otlpTarget, sendOtlp, shownUrl } = await import('../telemetry/otlp.ts');
  const traces = new Set(spans.map((s) => s.traceId)).size;
  if (options.out !== undefined) {
    const file = writeOutFile(options.out, `${await otlpJson(spans)}\n`);
    return { to: file, spans: spans.length, traces };
  }
  const target = otlpTarget(process.env, options.endpoint);
  if (target === undefined) {
    ctx.output.write(`${await otlpJson(spans)}\n`);
    return { to: 'stdout', spans: spans.length, traces };
  }
  await sendOtlp(spans, target);
  return { to: shownUrl(target.url), spans: spans.length, traces };
}
