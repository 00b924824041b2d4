import { describe, expect, it } from 'vitest';
import { CantonJsonLedger } from '../../src/ledger/json-api/client.ts';
import { OPERATOR_HINT, TEMPLATES } from '../../src/ledger/templates.ts';
import { ledgerServeForSuite, SERVE_TOKEN } from '../helpers/ledger.ts';

/**
 * Canton wire conformance at run time (issue 19, point 6): what `ledger serve` puts on the wire carries the fields
 * Canton's 3.4/3.5 OpenAPI marks required (test/ledger/canton-conformance.test-d.ts checks the types; this checks
 * the bytes of a real HTTP answer): a created event's createdAt, representativePackageId and acsDelta, an exercised
 * event's acsDelta, a completion's synchronizerTime.recordTime, and the version's full feature descriptor.
 */
const TOKEN = SERVE_TOKEN;
const served = ledgerServeForSuite();

type Json = Record<string, unknown>;

async function call(path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${served.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(r.status).toBe(200);
  return r.json();
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/;
const WILDCARD = [{ identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: false } } } }];

describe('ledger serve speaks the fields Canton requires', () => {
  it('events, active contracts, completions and the version carry every required field', async () => {
    const l = new CantonJsonLedger({ url: served.url, token: TOKEN });
    const operator = await l.allocateParty(OPERATOR_HINT);
    const alice = await l.allocateParty('alice');
    const bob = await l.allocateParty('bob');
    const minted = await l.submit(
      [{ kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: alice, amount: '10', meta: {} } }],
      { commandId: 'mint-1', actAs: [operator] },
    );
    const cid = minted.events.find((e) => e.kind === 'created')!.contractId;
    await l.submit(
      [
        {
          kind: 'exercise',
          templateId: TEMPLATES.holding,
          contractId: cid,
          choice: 'Transfer',
          arg: { receiver: bob, value: '2.5', reason: 'work', transferId: 't-1', extraInputs: [] },
        },
      ],
      { commandId: 'xfer-1', actAs: [alice] },
    );

    const format = { filtersByParty: {}, filtersForAnyParty: { cumulative: WILDCARD }, verbose: true };
    const updates = (await call('/v2/updates', {
      beginExclusive: 0,
      updateFormat: {
        includeTransactions: { eventFormat: format, transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' },
      },
    })) as { update: { Transaction: { value: { effectiveAt: string; recordTime: string; events: Json[] } } } }[];
    const events = updates.flatMap((u) => u.update.Transaction.value.events);
    const created = events.flatMap((e) => (e['CreatedEvent'] === undefined ? [] : [e['CreatedEvent'] as Json]));
    const exercised = events.flatMap((e) => (e['ExercisedEvent'] === undefined ? [] : [e['ExercisedEvent'] as Json]));
    expect(created.length).toBeGreaterThan(0);
    expect(exercised.length).toBeGreaterThan(0);
    for (const c of created) {
      expect(c).toMatchObject({ createdAt: expect.stringMatching(ISO), acsDelta: true });
      expect(c['representativePackageId']).toBe(c['packageName']);
    }
    for (const x of exercised) expect(x['acsDelta']).toBe(x['consuming']);
    const mintTx = updates[updates.length - 2]!.update.Transaction.value;
    expect(mintTx.recordTime).toMatch(ISO);

    const active = (await call('/v2/state/active-contracts', {
      activeAtOffset: await l.ledgerEnd(),
      eventFormat: format,
    })) as {
      contractEntry: { JsActiveContract: { createdEvent: Json; synchronizerId: string; reassignmentCounter: number } };
    }[];
    expect(active.length).toBeGreaterThan(0);
    for (const a of active)
      expect(a.contractEntry.JsActiveContract.createdEvent).toMatchObject({
        createdAt: expect.stringMatching(ISO),
        representativePackageId: expect.any(String),
        acsDelta: true,
      });

    const completions = (await call('/v2/commands/completions', {
      userId: 'p2tui',
      parties: [alice],
      beginExclusive: 0,
    })) as {
      completionResponse: { Completion: { value: { commandId: string; synchronizerTime: Json } } };
    }[];
    const xfer = completions.find((c) => c.completionResponse.Completion.value.commandId === 'xfer-1')!;
    expect(xfer.completionResponse.Completion.value.synchronizerTime).toEqual({
      synchronizerId: expect.any(String),
      recordTime: expect.stringMatching(ISO),
    });

    const version = (await call('/v2/version')) as { features: Json };
    expect(Object.keys(version.features).sort()).toEqual([
      'experimental',
      'offsetCheckpoint',
      'packageFeature',
      'partyManagement',
      'userManagement',
    ]);
    expect(version.features['userManagement']).toEqual({ supported: false, maxRightsPerUser: 0, maxUsersPageSize: 0 });
  });

  it("serves what Canton's own client asks: a POST with no Content-Type, one party by id, the connected synchronizers", async () => {
    // @canton-network/core-ledger-client 1.8 sends its POSTs without a Content-Type (its fetch wrapper drops it).
    const bare = (token?: string): Promise<Response> =>
      fetch(`${served.url}/v2/parties`, {
        method: 'POST',
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        body: new Blob([JSON.stringify({ partyIdHint: 'carol', identityProviderId: '' })]),
      });
    const made = await bare(TOKEN);
    expect(made.status).toBe(200);
    const carol = ((await made.json()) as { partyDetails: { party: string } }).partyDetails.party;
    expect(carol).toMatch(/^carol::/);
    // Without a token it is still refused; any other type than JSON still is too.
    expect((await bare()).status).toBe(401);
    const plain = await fetch(`${served.url}/v2/parties`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ partyIdHint: 'dave' }),
    });
    expect(plain.status).toBe(415);
    expect(await call(`/v2/parties/${encodeURIComponent(carol)}`)).toEqual({
      partyDetails: [{ party: carol, isLocal: true, localMetadata: { annotations: {} }, identityProviderId: '' }],
    });
    expect(await call(`/v2/parties/${encodeURIComponent('nobody::1220')}`)).toEqual({ partyDetails: [] });
    expect(await call('/v2/state/connected-synchronizers')).toEqual({
      connectedSynchronizers: [
        {
          synchronizerAlias: 'p2tui-embedded',
          synchronizerId: expect.any(String),
          permission: 'PARTICIPANT_PERMISSION_SUBMISSION',
        },
      ],
    });
  });
});
