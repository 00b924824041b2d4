import { ProviderError } from '../../core/errors.ts';
import { messageOf } from '../../core/errors.ts';
import type { Redactor } from '../redactor.ts';

export interface FailureContext {
  /** `openai` or the configured provider id, as the user wrote it. */
  readonly provider: string;
  /** Where the requests go, for messages about reaching it. */
  readonly endpoint: string;
  /** The environment variable the key comes from, for the 401 hint. */
  readonly keyVariable?: string;
  readonly redactor: Redactor;
}

/** An HTTP error status from a provider as a typed, redacted error saying whether a retry can help. */
export function httpFailure(
  status: number,
  detail: string,
  retryAfterMs: number | undefined,
  ctx: FailureContext,
): ProviderError {
  const said = ctx.redactor.redact(detail.trim() === '' ? `HTTP ${status}` : `HTTP ${status}: ${detail.trim()}`);
  if (status === 401 || status === 403) {
    return new ProviderError('E_MODEL_AUTH', `${ctx.provider} refused the request (${said})`, {
      retryable: false,
      status,
      hint: `Check the API key${ctx.keyVariable === undefined ? '' : ` in ${ctx.keyVariable} (environment or the workspace's .env)`}, then resume the session.`,
    });
  }
  if (status === 429) {
    return new ProviderError('E_MODEL_RATE_LIMIT', `${ctx.provider} is rate limiting (${said})`, {
      retryable: true,
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      hint: `Lower providers.${ctx.provider}.concurrency or set providers.${ctx.provider}.rpm in p2tui.yaml, then resume the session.`,
    });
  }
  if (status === 404) {
    return new ProviderError('E_MODEL_NOT_FOUND', `${ctx.provider} does not know this model or endpoint (${said})`, {
      retryable: false,
      status,
      hint: `Check the model name and the base URL (${ctx.endpoint}); p2tui doctor lists the models the provider offers.`,
    });
  }
  if (status === 408 || status === 409 || status >= 500) {
    return new ProviderError('E_MODEL_PROVIDER', `${ctx.provider} failed (${said})`, {
      retryable: true,
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  return new ProviderError('E_MODEL_BAD_REQUEST', `${ctx.provider} rejected the request (${said})`, {
    retryable: false,
    status,
    hint: 'The request was refused as malformed; a retry would fail the same way. Check the persona (model, tools) against what this provider supports.',
  });
}

/** The provider could not be reached, or the connection broke: worth retrying. */
export function networkFailure(error: unknown, ctx: FailureContext): ProviderError {
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return new ProviderError(
    'E_MODEL_NETWORK',
    ctx.redactor.redact(`cannot reach ${ctx.provider} at ${ctx.endpoint} (${messageOf(error)}${cause})`),
    {
      retryable: true,
      hint: `Check that the server at ${ctx.endpoint} is running and reachable, then resume the session.`,
    },
  );
}

/** One attempt took longer than the model timeout: worth another try (an overloaded server, say). */
export function attemptTimeout(timeoutMs: number, ctx: FailureContext): ProviderError {
  return new ProviderError('E_MODEL_TIMEOUT', `${ctx.provider} did not answer within ${timeoutMs} ms`, {
    retryable: true,
    hint: 'Raise policies.model_timeout_ms for slow models, then resume the session.',
  });
}

/** A stream that ended or broke before the response was complete. */
export function streamFailure(detail: string, ctx: FailureContext): ProviderError {
  return new ProviderError(
    'E_MODEL_STREAM',
    ctx.redactor.redact(`${ctx.provider}'s response stream broke off before the end (${detail})`),
    { retryable: true },
  );
}
