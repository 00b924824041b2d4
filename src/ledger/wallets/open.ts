import { systemClock, type Clock } from '../../core/clock.ts';
import { UserError } from '../../core/errors.ts';
import type { Store } from '../../store/store.ts';
import { EmbeddedLedger } from '../embedded/ledger.ts';
import { CantonJsonLedger } from '../json-api/client.ts';
import { StoreLocks } from './locks.ts';
import { WalletService } from './service.ts';

/** Where the wallets live: `ledger.canton` of p2tui.yaml, or (without it) the embedded ledger in the store. */
export interface LedgerSettings {
  readonly canton?:
    { readonly url: string; readonly token_env?: string | undefined; readonly user?: string | undefined } | undefined;
}

/**
 * Opens the wallet service over a store: the embedded ledger in it, or a Canton participant when the settings name
 * one. Either way its payment locks live in the store, so processes sharing it check and pay as one unit. Its owner
 * (the app, or a command) keeps one per store: the embedded ledger checks its chain once per service.
 */
export function openWallets(store: Store, settings: LedgerSettings = {}, clock: Clock = systemClock): WalletService {
  const ledger = settings.canton === undefined ? new EmbeddedLedger(store, { clock }) : cantonLedger(settings.canton);
  const wallets = new WalletService(ledger, { locks: new StoreLocks(store, { clock }) });
  // Parties allocated inside a store transaction that rolled back (a queue's ingest) are gone with it.
  if (ledger.backend === 'embedded') store.onRollback(() => wallets.forgetParties());
  return wallets;
}

function cantonLedger(canton: NonNullable<LedgerSettings['canton']>): CantonJsonLedger {
  const token = canton.token_env === undefined ? undefined : process.env[canton.token_env];
  if (canton.token_env !== undefined && (token === undefined || token === '')) {
    throw new UserError('E_CONFIG', `p2tui.yaml: ledger.canton.token_env names ${canton.token_env}, which is not set`, {
      hint: `Export the participant's JWT as ${canton.token_env}, or remove token_env for a sandbox without auth.`,
    });
  }
  return new CantonJsonLedger({
    url: canton.url,
    ...(token === undefined ? {} : { token }),
    ...(canton.user === undefined ? {} : { userId: canton.user }),
  });
}
