import type { SessionStatus } from '../../core/events.ts';
import { paint } from './text.ts';

/** Statuses and FSM phases in the colour every command shows them in. */
export function colourStatus(color: boolean, status: SessionStatus): string {
  const style =
    status === 'finished'
      ? 'green'
      : status === 'failed' || status === 'cancelled'
        ? 'red'
        : status === 'waiting' || status === 'paused'
          ? 'yellow'
          : 'cyan';
  return paint(color, style, status);
}

export function colourPhase(color: boolean, phase: string): string {
  const style = phase === 'finished' ? 'green' : phase === 'failed' ? 'red' : phase === 'waiting' ? 'yellow' : 'cyan';
  return paint(color, style, phase);
}
