import type { EnginePorts } from '../ports.ts';
import type { ToolRun } from '../tool-runner.ts';

/** A tool that echoes a configured key (an MCP server given it in its environment, say) must not store it. */
export function redactedRun(redactor: EnginePorts['redactor'], run: ToolRun): ToolRun {
  if (!redactor.active) return run;
  return {
    ...run,
    result: redactor.json(run.result),
    // A large output or error was redacted before it was hashed; going over its bytes again would copy them.
    attachments: run.attachments.map((a) =>
      a.redacted === true
        ? a
        : {
            ...a,
            name: redactor.redact(a.name),
            // Bytes as latin1 map one to one onto characters: a key (ASCII) inside a binary file is found and replaced.
            data:
              typeof a.data === 'string'
                ? redactor.redact(a.data)
                : redactBytes(a.data, (text) => redactor.redact(text)),
          },
    ),
    ...(run.milestones === undefined
      ? {}
      : {
          milestones: run.milestones.map((m) => ({
            name: redactor.redact(m.name),
            detail: m.detail === null ? null : redactor.redact(m.detail),
          })),
        }),
  };
}

function redactBytes(data: Uint8Array, redact: (text: string) => string): Uint8Array {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const clean = redact(text);
  return clean === text ? data : Buffer.from(clean, 'latin1');
}
