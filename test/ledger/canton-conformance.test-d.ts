/**
 * Canton wire conformance without a Canton (issue 19, point 6): the JSON Ledger API v2 bodies p2tui puts on the wire
 * (src/ledger/json-api/shapes.ts: what the adapter sends and reads, what `ledger serve` answers) are checked against
 * Canton's own generated OpenAPI types for 3.4 and 3.5 (@canton-network/core-ledger-client-types). This file is
 * checked by `npx tsc --noEmit -p .` (tsconfig includes test/); it has no run time. A drift — a field Canton does
 * not define, a missing required field, a wrong value type, at any depth — is a type error here, naming the route.
 */
import type { LedgerPathsByVersion, LedgerSchemasByVersion } from '@canton-network/core-ledger-client-types';
import type { AdapterReads, AdapterRequests, FacadeResponses } from '../../src/ledger/json-api/shapes.ts';

type Version = keyof LedgerPathsByVersion;
type Paths<V extends Version> = LedgerPathsByVersion[V];
type Json<T> = T extends { content: { 'application/json': infer J } } ? J : never;

/** The request body Canton defines for a route ("POST /v2/parties"). */
type CantonRequest<V extends Version, R extends string> = R extends `POST ${infer P extends keyof Paths<V> & string}`
  ? Paths<V>[P] extends { post: { requestBody?: infer B } }
    ? Json<NonNullable<B>>
    : never
  : never;

/** The 200 response Canton defines for a route. */
type CantonResponse<V extends Version, R extends string> = R extends `${infer M extends 'GET' | 'POST'} ${infer P}`
  ? P extends keyof Paths<V>
    ? Paths<V>[P] extends Record<Lowercase<M>, { responses: { 200: infer O } }>
      ? Json<O>
      : never
    : never
  : never;

type CantonError<V extends Version> = LedgerSchemasByVersion[V]['JsCantonError'];

/**
 * `true` when every key of A, at every depth, is one B defines (each member of a union in A matching some member of
 * B's union), else the paths of the keys Canton does not define ("commands.workflowID: not in Canton"), so a type
 * error says where the drift is. Index signatures in B accept any key; `unknown` in B accepts anything.
 */
type NoExtraKeys<A, B, P extends string = '', M = 'send'> = [A] extends [never]
  ? true
  : unknown extends B
    ? true
    : A extends readonly (infer E)[]
      ? Defined<B> extends readonly (infer F)[]
        ? NoExtraKeys<E, F, `${P}[]`, M>
        : `${P}: a list where Canton has none`
      : A extends object
        ? true extends MatchesSome<A, M extends 'read' ? Merged<Defined<B>> : Defined<B>, P, M>
          ? true
          : MatchesSome<A, M extends 'read' ? Merged<Defined<B>> : Defined<B>, P, M>
        : true;

type MatchesSome<A, B, P extends string, M> = B extends unknown
  ? [Exclude<keyof A, keyof B>] extends [never]
    ? OrTrue<
        Exclude<
          {
            [K in keyof A]-?: K extends keyof B
              ? NoExtraKeys<A[K], Defined<B[K]>, `${P}.${K & string}`, M>
              : `${P}.${K & string}: not in Canton`;
          }[keyof A],
          true
        >
      >
    : `${P}.${Exclude<keyof A, keyof B> & string}: not in Canton`
  : never;

/** B without `undefined` (an optional field's type); `unknown` stays `unknown` (NonNullable would make it `{}`). */
type Defined<T> = Exclude<T, undefined | null>;

/** A union of objects as one object with every member's keys (what a reader of a one-of sees). */
type Merged<B> = [B] extends [object] ? { [K in AllKeys<B>]: ValueAt<B, K> } : B;
type AllKeys<B> = B extends unknown ? keyof B : never;
type ValueAt<B, K extends PropertyKey> = B extends unknown ? (K extends keyof B ? B[K] : never) : never;

type OrTrue<X> = [X] extends [never] ? true : X;

/** A's values fit B (assignable) and A has no key B lacks: what a sender must hold to. */
type Sends<A, B> = [A] extends [B]
  ? NoExtraKeys<A, B>
  : 'not assignable to what Canton defines (a missing field or a wrong type)';

/**
 * A reader may leave out what it does not need, but may not read a field Canton never sends. It may read a one-of
 * (`update: Transaction | OffsetCheckpoint | …`) as one object with each member optional.
 */
type Reads<A, B> = NoExtraKeys<A, B, '', 'read'>;

type Check<T extends true> = T;

// Canton 3.4: every route a drift would break, one line each (a type error names the route).
export type Canton34 = [
  Check<Sends<AdapterRequests['POST /v2/parties'], CantonRequest<'3.4', 'POST /v2/parties'>>>,
  Check<
    Sends<
      AdapterRequests['POST /v2/commands/submit-and-wait-for-transaction'],
      CantonRequest<'3.4', 'POST /v2/commands/submit-and-wait-for-transaction'>
    >
  >,
  Check<
    Sends<AdapterRequests['POST /v2/state/active-contracts'], CantonRequest<'3.4', 'POST /v2/state/active-contracts'>>
  >,
  Check<Sends<AdapterRequests['POST /v2/updates'], CantonRequest<'3.4', 'POST /v2/updates'>>>,
  Check<Sends<AdapterRequests['POST /v2/updates/update-by-id'], CantonRequest<'3.4', 'POST /v2/updates/update-by-id'>>>,
  Check<Sends<AdapterRequests['POST /v2/commands/completions'], CantonRequest<'3.4', 'POST /v2/commands/completions'>>>,
  Check<Sends<FacadeResponses['GET /v2/version'], CantonResponse<'3.4', 'GET /v2/version'>>>,
  Check<Sends<FacadeResponses['GET /v2/state/ledger-end'], CantonResponse<'3.4', 'GET /v2/state/ledger-end'>>>,
  Check<Sends<FacadeResponses['GET /v2/parties'], CantonResponse<'3.4', 'GET /v2/parties'>>>,
  Check<Sends<FacadeResponses['GET /v2/parties/{party}'], CantonResponse<'3.4', 'GET /v2/parties/{party}'>>>,
  Check<
    Sends<
      FacadeResponses['GET /v2/state/connected-synchronizers'],
      CantonResponse<'3.4', 'GET /v2/state/connected-synchronizers'>
    >
  >,
  Check<Sends<FacadeResponses['POST /v2/parties'], CantonResponse<'3.4', 'POST /v2/parties'>>>,
  Check<
    Sends<
      FacadeResponses['POST /v2/commands/submit-and-wait-for-transaction'],
      CantonResponse<'3.4', 'POST /v2/commands/submit-and-wait-for-transaction'>
    >
  >,
  Check<
    Sends<FacadeResponses['POST /v2/state/active-contracts'], CantonResponse<'3.4', 'POST /v2/state/active-contracts'>>
  >,
  Check<Sends<FacadeResponses['POST /v2/updates'], CantonResponse<'3.4', 'POST /v2/updates'>>>,
  Check<
    Sends<FacadeResponses['POST /v2/updates/update-by-id'], CantonResponse<'3.4', 'POST /v2/updates/update-by-id'>>
  >,
  Check<
    Sends<FacadeResponses['POST /v2/commands/completions'], CantonResponse<'3.4', 'POST /v2/commands/completions'>>
  >,
  Check<Reads<AdapterReads['GET /v2/state/ledger-end'], CantonResponse<'3.4', 'GET /v2/state/ledger-end'>>>,
  Check<Reads<AdapterReads['GET /v2/parties'], CantonResponse<'3.4', 'GET /v2/parties'>>>,
  Check<Reads<AdapterReads['POST /v2/parties'], CantonResponse<'3.4', 'POST /v2/parties'>>>,
  Check<
    Reads<
      AdapterReads['POST /v2/commands/submit-and-wait-for-transaction'],
      CantonResponse<'3.4', 'POST /v2/commands/submit-and-wait-for-transaction'>
    >
  >,
  Check<
    Reads<AdapterReads['POST /v2/state/active-contracts'], CantonResponse<'3.4', 'POST /v2/state/active-contracts'>>
  >,
  Check<Reads<AdapterReads['POST /v2/updates'], CantonResponse<'3.4', 'POST /v2/updates'>>>,
  Check<Reads<AdapterReads['POST /v2/updates/update-by-id'], CantonResponse<'3.4', 'POST /v2/updates/update-by-id'>>>,
  Check<Reads<AdapterReads['POST /v2/commands/completions'], CantonResponse<'3.4', 'POST /v2/commands/completions'>>>,
  Check<Sends<FacadeResponses['error'], CantonError<'3.4'>>>,
  Check<Reads<AdapterReads['error'], CantonError<'3.4'>>>,
];
// Canton 3.5: every route a drift would break, one line each (a type error names the route).
export type Canton35 = [
  Check<Sends<AdapterRequests['POST /v2/parties'], CantonRequest<'3.5', 'POST /v2/parties'>>>,
  Check<
    Sends<
      AdapterRequests['POST /v2/commands/submit-and-wait-for-transaction'],
      CantonRequest<'3.5', 'POST /v2/commands/submit-and-wait-for-transaction'>
    >
  >,
  Check<
    Sends<AdapterRequests['POST /v2/state/active-contracts'], CantonRequest<'3.5', 'POST /v2/state/active-contracts'>>
  >,
  Check<Sends<AdapterRequests['POST /v2/updates'], CantonRequest<'3.5', 'POST /v2/updates'>>>,
  Check<Sends<AdapterRequests['POST /v2/updates/update-by-id'], CantonRequest<'3.5', 'POST /v2/updates/update-by-id'>>>,
  Check<Sends<AdapterRequests['POST /v2/commands/completions'], CantonRequest<'3.5', 'POST /v2/commands/completions'>>>,
  Check<Sends<FacadeResponses['GET /v2/version'], CantonResponse<'3.5', 'GET /v2/version'>>>,
  Check<Sends<FacadeResponses['GET /v2/state/ledger-end'], CantonResponse<'3.5', 'GET /v2/state/ledger-end'>>>,
  Check<Sends<FacadeResponses['GET /v2/parties'], CantonResponse<'3.5', 'GET /v2/parties'>>>,
  Check<Sends<FacadeResponses['GET /v2/parties/{party}'], CantonResponse<'3.5', 'GET /v2/parties/{party}'>>>,
  Check<
    Sends<
      FacadeResponses['GET /v2/state/connected-synchronizers'],
      CantonResponse<'3.5', 'GET /v2/state/connected-synchronizers'>
    >
  >,
  Check<Sends<FacadeResponses['POST /v2/parties'], CantonResponse<'3.5', 'POST /v2/parties'>>>,
  Check<
    Sends<
      FacadeResponses['POST /v2/commands/submit-and-wait-for-transaction'],
      CantonResponse<'3.5', 'POST /v2/commands/submit-and-wait-for-transaction'>
    >
  >,
  Check<
    Sends<FacadeResponses['POST /v2/state/active-contracts'], CantonResponse<'3.5', 'POST /v2/state/active-contracts'>>
  >,
  Check<Sends<FacadeResponses['POST /v2/updates'], CantonResponse<'3.5', 'POST /v2/updates'>>>,
  Check<
    Sends<FacadeResponses['POST /v2/updates/update-by-id'], CantonResponse<'3.5', 'POST /v2/updates/update-by-id'>>
  >,
  Check<
    Sends<FacadeResponses['POST /v2/commands/completions'], CantonResponse<'3.5', 'POST /v2/commands/completions'>>
  >,
  Check<Reads<AdapterReads['GET /v2/state/ledger-end'], CantonResponse<'3.5', 'GET /v2/state/ledger-end'>>>,
  Check<Reads<AdapterReads['GET /v2/parties'], CantonResponse<'3.5', 'GET /v2/parties'>>>,
  Check<Reads<AdapterReads['POST /v2/parties'], CantonResponse<'3.5', 'POST /v2/parties'>>>,
  Check<
    Reads<
      AdapterReads['POST /v2/commands/submit-and-wait-for-transaction'],
      CantonResponse<'3.5', 'POST /v2/commands/submit-and-wait-for-transaction'>
    >
  >,
  Check<
    Reads<AdapterReads['POST /v2/state/active-contracts'], CantonResponse<'3.5', 'POST /v2/state/active-contracts'>>
  >,
  Check<Reads<AdapterReads['POST /v2/updates'], CantonResponse<'3.5', 'POST /v2/updates'>>>,
  Check<Reads<AdapterReads['POST /v2/updates/update-by-id'], CantonResponse<'3.5', 'POST /v2/updates/update-by-id'>>>,
  Check<Reads<AdapterReads['POST /v2/commands/completions'], CantonResponse<'3.5', 'POST /v2/commands/completions'>>>,
  Check<Sends<FacadeResponses['error'], CantonError<'3.5'>>>,
  Check<Reads<AdapterReads['error'], CantonError<'3.5'>>>,
];

// The checker itself: each drift below must stay an error (`@ts-expect-error` fails the check if it is not).
type Submit = AdapterRequests['POST /v2/commands/submit-and-wait-for-transaction'];
type SubmitSpec<V extends Version> = CantonRequest<V, 'POST /v2/commands/submit-and-wait-for-transaction'>;
type Renamed = Omit<Submit, 'commands'> & {
  commands: Omit<Submit['commands'], 'workflowId'> & { workflowID: string };
};
type Missing = Omit<Submit, 'commands'> & { commands: Omit<Submit['commands'], 'commandId'> };
type WrongType = Omit<FacadeResponses['GET /v2/state/ledger-end'], 'offset'> & { offset: string };
type DeepExtra = { update: { Transaction: { value: { offset: number; updateID: string } } } };
export type Drifts = [
  // @ts-expect-error a renamed optional field ("workflowID") is a key Canton does not define
  Check<Sends<Renamed, SubmitSpec<'3.4'>>>,
  // @ts-expect-error a required field left out (commandId)
  Check<Sends<Missing, SubmitSpec<'3.5'>>>,
  // @ts-expect-error a value of the wrong type (an offset as a string)
  Check<Sends<WrongType, CantonResponse<'3.4', 'GET /v2/state/ledger-end'>>>,
  // @ts-expect-error a reader reading a field Canton never sends, deep in a response
  Check<Reads<DeepExtra, CantonResponse<'3.5', 'POST /v2/updates/update-by-id'>>>,
];
