/**
 * Versioned schema migrations. `PRAGMA user_version` holds the schema version; a database whose version is higher
 * than the last migration here was written by a newer p2tui and is refused without being touched.
 *
 * Append new migrations; never edit one that has shipped. Long because it is the whole schema's history, one
 * migration after another, read top to bottom.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'log, sessions, branches, conversations, heads, model calls, intents, artifacts, leases, tool cache',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );

      -- The append-only log. Its rowid is the global seq, assigned inside the write transaction. Stack entries are
      -- rows with type = 'entry' and their FSM state in kind; nothing else stores them.
      CREATE TABLE events (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT    NOT NULL,
        ts              INTEGER NOT NULL,
        v               INTEGER NOT NULL,
        type            TEXT    NOT NULL,
        kind            TEXT,
        session_id      TEXT,
        branch_id       TEXT,
        conversation_id TEXT,
        payload         TEXT    NOT NULL
      );
      CREATE UNIQUE INDEX events_id ON events(id);
      CREATE INDEX events_session ON events(session_id, seq);

      CREATE TABLE sessions (
        id                TEXT PRIMARY KEY,
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL,
        agent             TEXT NOT NULL,
        root_conversation TEXT NOT NULL,
        head_branch       TEXT NOT NULL,
        title             TEXT NOT NULL,
        source            TEXT NOT NULL,
        status            TEXT NOT NULL,
        status_reason     TEXT,
        options           TEXT NOT NULL,
        workspace         TEXT NOT NULL
      );
      CREATE INDEX sessions_created ON sessions(created_at);
      CREATE INDEX sessions_status ON sessions(status);

      -- A branch is a timeline of the whole session. Its visible entries are its own plus, for each ancestor
      -- segment, the ancestor's entries up to max_seq: forking copies this short list, never entries.
      CREATE TABLE branches (
        id         TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        parent_id  TEXT,
        fork_seq   INTEGER,
        label      TEXT,
        overrides  TEXT NOT NULL DEFAULT '{}',
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX branches_session ON branches(session_id);
      CREATE TABLE branch_segments (
        branch_id   TEXT NOT NULL,
        ancestor_id TEXT NOT NULL,
        max_seq     INTEGER NOT NULL,
        PRIMARY KEY (branch_id, ancestor_id)
      ) WITHOUT ROWID;

      CREATE TABLE conversations (
        id             TEXT PRIMARY KEY,
        session_id     TEXT NOT NULL,
        branch_id      TEXT NOT NULL,
        agent          TEXT NOT NULL,
        parent_id      TEXT,
        parent_call_id TEXT,
        depth          INTEGER NOT NULL,
        -- Stable across sessions (root agent, then agent#n per delegation), so replays and seeded simulators can
        -- match a conversation of one run to the same conversation of another.
        path           TEXT NOT NULL,
        created_at     INTEGER NOT NULL
      );
      CREATE INDEX conversations_session ON conversations(session_id);

      -- Per branch and conversation: the newest visible entry and the FSM phase it leaves the conversation in.
      CREATE TABLE heads (
        branch_id       TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        session_id      TEXT NOT NULL,
        head_seq        INTEGER NOT NULL,
        phase           TEXT NOT NULL,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (branch_id, conversation_id)
      ) WITHOUT ROWID;
      CREATE INDEX heads_session ON heads(session_id);

      -- One row per model call: the request as a hash plus the entries it rendered, and the response.
      -- Matched on replay by (conversation, ordinal) and checked by request_hash.
      CREATE TABLE model_calls (
        id              TEXT PRIMARY KEY,
        session_id      TEXT NOT NULL,
        branch_id       TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        ordinal         INTEGER NOT NULL,
        provider        TEXT NOT NULL,
        model           TEXT NOT NULL,
        request_hash    TEXT NOT NULL,
        request         TEXT NOT NULL,
        response        TEXT,
        tokens_in       INTEGER NOT NULL,
        tokens_out      INTEGER NOT NULL,
        estimated       INTEGER NOT NULL,
        cost_usd        REAL NOT NULL,
        latency_ms      INTEGER NOT NULL,
        status          TEXT NOT NULL,
        error           TEXT,
        ts              INTEGER NOT NULL
      );
      -- By conversation only: session-wide questions join through conversations (one index less on the hot path).
      CREATE INDEX model_calls_conversation ON model_calls(conversation_id, ordinal);

      -- An intent per call a model made (tool, delegation, question to the user), written in the decide commit.
      -- Its key is the idempotency key: an effectful tool whose intent is 'running' without a result after a crash
      -- is reconciled or settled as unknown, never run twice.
      CREATE TABLE intents (
        key             TEXT PRIMARY KEY,
        session_id      TEXT NOT NULL,
        branch_id       TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        call_id         TEXT NOT NULL,
        entry_id        TEXT NOT NULL,
        kind            TEXT NOT NULL,
        tool            TEXT NOT NULL,
        effect          TEXT NOT NULL,
        args            TEXT NOT NULL,
        status          TEXT NOT NULL,
        result          TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        started_at      INTEGER,
        settled_at      INTEGER
      );
      -- Not on status: settling a call then updates no index.
      CREATE INDEX intents_session ON intents(session_id);

      -- Content-addressed blobs (sha256), deduplicated; artifact_refs says where each appeared.
      CREATE TABLE artifacts (
        hash       TEXT PRIMARY KEY,
        size       INTEGER NOT NULL,
        mime       TEXT NOT NULL,
        data       BLOB NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE artifact_refs (
        id              TEXT PRIMARY KEY,
        hash            TEXT NOT NULL,
        session_id      TEXT,
        branch_id       TEXT,
        conversation_id TEXT,
        entry_id        TEXT,
        kind            TEXT NOT NULL,
        name            TEXT NOT NULL,
        meta            TEXT NOT NULL DEFAULT '{}',
        created_at      INTEGER NOT NULL
      );
      CREATE INDEX artifact_refs_session ON artifact_refs(session_id);
      CREATE INDEX artifact_refs_hash ON artifact_refs(hash);

      -- Which process drives a session: another process takes over an expired lease (that is how a crash resumes).
      CREATE TABLE leases (
        session_id   TEXT PRIMARY KEY,
        owner        TEXT NOT NULL,
        host         TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        acquired_at  INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
      );

      -- Results of pure tools, by tool and canonical arguments, until expires_at.
      CREATE TABLE tool_cache (
        key        TEXT PRIMARY KEY,
        tool       TEXT NOT NULL,
        result     TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: "a branch's ancestor segments as one JSON value in its row (a fork writes one row, however deep)",
    sql: `
      -- [{"branch": ancestor id, "maxSeq": n}, …], newest ancestor first; NULL for branches made before version 2,
      -- whose segments are rows of branch_segments.
      ALTER TABLE branches ADD COLUMN segments TEXT;
    `,
  },
  {
    version: 3,
    description:
      'the judge: evaluation jobs (written in the commit that triggers them) and scores; forks store no segments; the embedded ledger',
    sql: `
      -- From this version a fork's row stores no segments (NULL): they follow from its parent's and its fork_seq, so a
      -- fork writes the same few bytes however deeply it is nested. Rows written before keep theirs.

      -- One row per evaluation to do: claimed by a judge (claimed_by, lease until claim_expires), done or failed.
      CREATE TABLE eval_jobs (
        id            TEXT PRIMARY KEY,
        session_id    TEXT    NOT NULL,
        branch_id     TEXT    NOT NULL,
        target_kind   TEXT    NOT NULL,  -- conversation | branch | step | artifact
        target_id     TEXT    NOT NULL,
        evaluator     TEXT    NOT NULL,
        trigger       TEXT    NOT NULL,  -- conversation.finished | artifact.created | milestone | demand
        upto_seq      INTEGER,           -- judge the branch as it was at this seq (NULL: as it is when judged)
        samples       INTEGER NOT NULL,
        status        TEXT    NOT NULL,  -- pending | running | done | failed
        attempts      INTEGER NOT NULL DEFAULT 0,
        claimed_by    TEXT,
        claim_expires INTEGER,
        error         TEXT,
        created_at    INTEGER NOT NULL,
        finished_at   INTEGER
      );
      CREATE INDEX eval_jobs_open ON eval_jobs(status, created_at);
      CREATE INDEX eval_jobs_session ON eval_jobs(session_id, status, created_at);

      -- A score: what it judges, who judged (evaluator, version, model, prompt hash) and the verdict. value is NULL
      -- when the judge failed (a failure is never a zero).
      CREATE TABLE scores (
        id                TEXT PRIMARY KEY,
        job_id            TEXT,
        session_id        TEXT    NOT NULL,
        branch_id         TEXT    NOT NULL,
        target_kind       TEXT    NOT NULL,
        target_id         TEXT    NOT NULL,
        evaluator         TEXT    NOT NULL,
        evaluator_kind    TEXT    NOT NULL,
        evaluator_version TEXT    NOT NULL,
        metric            TEXT    NOT NULL,
        value             REAL,
        status            TEXT    NOT NULL,  -- ok | failed
        reasoning         TEXT    NOT NULL,
        criteria          TEXT    NOT NULL,  -- JSON: [{id, weight, score, reason}] or assertion results
        model             TEXT,
        prompt_hash       TEXT,
        sample            INTEGER NOT NULL,
        created_at        INTEGER NOT NULL
      );
      CREATE INDEX scores_session ON scores(session_id, branch_id);
      CREATE INDEX scores_job ON scores(job_id);

      -- The embedded ledger (Daml-shaped): parties, contracts (active until archived), committed updates with a hash
      -- chain (each hash covers the previous one and the update's canonical JSON), and accepted command ids.
      CREATE TABLE ledger_parties (
        party      TEXT PRIMARY KEY,
        hint       TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE ledger_contracts (
        contract_id     TEXT PRIMARY KEY,
        template_id     TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        signatories     TEXT    NOT NULL,
        observers       TEXT    NOT NULL,
        created_offset  INTEGER NOT NULL,
        archived_offset INTEGER
      );
      CREATE INDEX ledger_contracts_active ON ledger_contracts(template_id, archived_offset);
      CREATE TABLE ledger_updates (
        "offset"     INTEGER PRIMARY KEY,
        update_id    TEXT    NOT NULL UNIQUE,
        command_id   TEXT    NOT NULL,
        act_as       TEXT    NOT NULL,
        workflow_id  TEXT,
        effective_at TEXT    NOT NULL,
        events       TEXT    NOT NULL,
        prev_hash    TEXT    NOT NULL,
        hash         TEXT    NOT NULL
      );
      CREATE TABLE ledger_completions (
        change_id TEXT PRIMARY KEY,
        update_id TEXT    NOT NULL,
        "offset"  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 4,
    description:
      'ledger: who sees which update and active contract (indexed reads), verdicts of full audits, payment locks',
    sql: `
      -- The stakeholders of each update and of each active contract: a party's history, balance and spend check read
      -- its own rows instead of every update. Derived from the updates; the audit checks them like the contracts.
      CREATE TABLE ledger_update_parties (
        party    TEXT    NOT NULL,
        "offset" INTEGER NOT NULL,
        PRIMARY KEY (party, "offset")
      ) WITHOUT ROWID;
      -- By party and template: a wallet's holdings are read without its ever-growing transfer records.
      CREATE TABLE ledger_contract_parties (
        party       TEXT NOT NULL,
        template_id TEXT NOT NULL,
        contract_id TEXT NOT NULL,
        PRIMARY KEY (party, template_id, contract_id)
      ) WITHOUT ROWID;
      -- An archived contract's rows are removed by its id.
      CREATE INDEX ledger_contract_parties_contract ON ledger_contract_parties(contract_id);
      -- Every contract a command archived, by the update that did (a holding set active again by hand is caught
      -- where it would be spent); and updates by command id (a removed accepted-command record is caught too).
      CREATE TABLE ledger_spent (
        contract_id TEXT    PRIMARY KEY,
        "offset"    INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO ledger_spent (contract_id, "offset") SELECT contract_id, archived_offset FROM ledger_contracts WHERE archived_offset IS NOT NULL;
      CREATE INDEX ledger_updates_command ON ledger_updates(command_id);
      CREATE INDEX ledger_updates_workflow ON ledger_updates(workflow_id, "offset");
      CREATE INDEX ledger_updates_time ON ledger_updates(effective_at);
      -- What one agent paid (its spend checks): by submitter, then time.
      CREATE INDEX ledger_updates_submitter ON ledger_updates(act_as, effective_at);
      INSERT OR IGNORE INTO ledger_update_parties (party, "offset")
        SELECT p.value, u."offset" FROM ledger_updates u, json_each(u.events) e, json_each(json_extract(e.value, '$.signatories')) p
        WHERE json_extract(e.value, '$.kind') = 'created';
      INSERT OR IGNORE INTO ledger_update_parties (party, "offset")
        SELECT p.value, u."offset" FROM ledger_updates u, json_each(u.events) e, json_each(json_extract(e.value, '$.observers')) p
        WHERE json_extract(e.value, '$.kind') = 'created';
      INSERT OR IGNORE INTO ledger_update_parties (party, "offset")
        SELECT p.value, u."offset" FROM ledger_updates u, json_each(u.events) e, json_each(json_extract(e.value, '$.stakeholders')) p
        WHERE json_extract(e.value, '$.kind') <> 'created';
      INSERT OR IGNORE INTO ledger_contract_parties (party, template_id, contract_id)
        SELECT p.value, c.template_id, c.contract_id FROM ledger_contracts c, json_each(c.signatories) p WHERE c.archived_offset IS NULL;
      INSERT OR IGNORE INTO ledger_contract_parties (party, template_id, contract_id)
        SELECT p.value, c.template_id, c.contract_id FROM ledger_contracts c, json_each(c.observers) p WHERE c.archived_offset IS NULL;

      -- The verdict of each full verification of the chain (ledger audit --verify, or a process's first write). A
      -- later process verifies only the updates after the newest good verdict; a broken verdict blocks every writer
      -- until a verification passes again.
      CREATE TABLE ledger_audits (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        "offset"    INTEGER NOT NULL,
        hash        TEXT    NOT NULL,
        ok          INTEGER NOT NULL,
        reason      TEXT,
        verified_at INTEGER NOT NULL
      );

      -- Short leases that make a spend check and the payment it allows one unit across processes (two payments by
      -- one agent at once cannot both fit in what is left of its budget). Expired leases are taken over.
      CREATE TABLE ledger_locks (
        name       TEXT PRIMARY KEY,
        owner      TEXT    NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 5,
    description: 'rollouts and their cells',
    sql: `
      -- A rollout: the spec it ran (as parsed, with its hash) and where it stands.
      CREATE TABLE rollouts (
        id          TEXT PRIMARY KEY,
        name        TEXT    NOT NULL,
        file        TEXT    NOT NULL,
        spec        TEXT    NOT NULL,   -- JSON: the spec file's content as parsed
        spec_hash   TEXT    NOT NULL,
        status      TEXT    NOT NULL,   -- running | finished | stopped
        created_at  INTEGER NOT NULL,
        finished_at INTEGER,
        options     TEXT    NOT NULL    -- JSON: how it was run (replay source, queue)
      );
      -- One cell: team x variant x scenario x repeat, a session once it runs, its metrics once it is done.
      CREATE TABLE rollout_cells (
        rollout_id  TEXT    NOT NULL,
        cell_id     TEXT    NOT NULL,
        ordinal     INTEGER NOT NULL,
        team        TEXT    NOT NULL,
        variant     TEXT    NOT NULL,
        scenario    TEXT    NOT NULL,
        repeat      INTEGER NOT NULL,
        seed        INTEGER NOT NULL,
        status      TEXT    NOT NULL,   -- pending | running | done | failed
        session_id  TEXT,
        error       TEXT,
        metrics     TEXT,               -- JSON: scores per metric, steps, tokens, cost, latency, ledger figures
        started_at  INTEGER,
        finished_at INTEGER,
        PRIMARY KEY (rollout_id, cell_id)
      ) WITHOUT ROWID;
      CREATE INDEX rollout_cells_session ON rollout_cells(session_id);
    `,
  },
  {
    version: 6,
    description: 'the MCP tool listings each session started with (a replay builds those tools without the servers)',
    sql: `
      -- A listing: the tools one MCP server offered (names, descriptions, schemas, annotations; redacted), as JSON,
      -- stored once by its hash.
      CREATE TABLE mcp_listings (
        hash       TEXT PRIMARY KEY,
        tools      TEXT    NOT NULL,
        created_at INTEGER NOT NULL
      );
      -- Which listing of each configured server a session saw when it started. Not WITHOUT ROWID: the rowid keeps
      -- the servers' order.
      CREATE TABLE session_mcp_listings (
        session_id TEXT NOT NULL,
        server     TEXT NOT NULL,
        hash       TEXT NOT NULL,
        PRIMARY KEY (session_id, server)
      );
    `,
  },
  {
    version: 7,
    description: 'fencing tokens of leases, and which holder started each effectful call',
    sql: `
      -- A lease's fencing token: one more on every claim, never reused (a released lease keeps its row and token),
      -- so a system an effect reaches can refuse a holder that has been taken over.
      ALTER TABLE leases ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
      -- Who started a call (host, pid, fence): a takeover never runs again a call whose starter still lives on this host.
      ALTER TABLE intents ADD COLUMN started_host TEXT;
      ALTER TABLE intents ADD COLUMN started_pid INTEGER;
      ALTER TABLE intents ADD COLUMN started_fence INTEGER;
    `,
  },
  {
    version: 8,
    description: 'ledger: the keyed audit chain (a MAC per update, and a seal over the head and the newest verdict)',
    sql: `
      -- A MAC per update (HMAC-SHA256 of its offset and hash, with a key kept outside the database): rewriting the
      -- database alone cannot make an altered update verify again. IF NOT EXISTS: a database taken back to an older
      -- version by hand still opens.
      CREATE TABLE IF NOT EXISTS ledger_macs (
        "offset" INTEGER PRIMARY KEY,
        mac      TEXT    NOT NULL
      );
      -- One row: the newest offset ever written (never reused) and its hash, the newest verdict, and the key's id,
      -- under one MAC. Removing the newest update, or a failed verdict, no longer matches it.
      CREATE TABLE IF NOT EXISTS ledger_seal (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        key_id       TEXT    NOT NULL,
        high_offset  INTEGER NOT NULL,
        high_hash    TEXT    NOT NULL,
        audit_id     INTEGER NOT NULL,
        audit_digest TEXT    NOT NULL,
        mac          TEXT    NOT NULL
      );
    `,
  },
  {
    version: 9,
    description:
      'artifacts: large bytes in chunks (issue 16 point 2: a large bundle imports without holding its artifacts whole)',
    sql: `
      -- An artifact whose bytes are here has an empty artifacts.data and its size there; its chunks in order (n from 0)
      -- concatenate to those bytes. SQLite cannot write one blob piece by piece through better-sqlite3, and one large
      -- blob costs three copies of itself in memory while it is inserted.
      CREATE TABLE IF NOT EXISTS artifact_chunks (
        hash TEXT    NOT NULL,
        n    INTEGER NOT NULL,
        data BLOB    NOT NULL,
        PRIMARY KEY (hash, n)
      );
    `,
  },
  {
    version: 10,
    description: 'conversation snapshots (issue 22 target 4: a cold rewind without replaying the whole log)',
    sql: `
      -- Derived data: a conversation's projection after its entry at seq (entry_id), with marks of its last entries
      -- so a load can go back to any of them; its transcript's messages apart (JSON a load parses only when used).
      -- Checked against the log before use (entry ids, version, hash of body and messages); a database without rows
      -- here replays the log and writes them. first_seq: the seq of the conversation's first entry.
      CREATE TABLE IF NOT EXISTS conversation_snapshots (
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        session_id      TEXT    NOT NULL,
        branch_id       TEXT    NOT NULL,
        entry_id        TEXT    NOT NULL,
        first_seq       INTEGER NOT NULL,
        version         INTEGER NOT NULL,
        hash            TEXT    NOT NULL,
        body            TEXT    NOT NULL,
        messages        TEXT    NOT NULL,
        PRIMARY KEY (conversation_id, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS conversation_snapshots_session ON conversation_snapshots(session_id, branch_id);
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
