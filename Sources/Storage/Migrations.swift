import SwitchyardCore

/// The schema, as an append-only list of versioned steps written in the SQL both engines accept.
///
/// Never edit a shipped step: add a new one. Times are integer microseconds since the epoch and
/// money is integer nano-units, so both engines store and sum them exactly.
enum Migrations {
    static let steps: [(version: Int64, sql: String)] = [
        (
            1,
            """
            CREATE TABLE tenants (
                name TEXT PRIMARY KEY,
                created_at BIGINT NOT NULL
            );
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                key_hash TEXT NOT NULL UNIQUE,
                tenant TEXT NOT NULL REFERENCES tenants (name),
                agent TEXT,
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                revoked_at BIGINT
            );
            CREATE TABLE usage_records (
                id TEXT PRIMARY KEY,
                started_at BIGINT NOT NULL,
                finished_at BIGINT NOT NULL,
                tenant TEXT,
                agent TEXT,
                key_id TEXT,
                endpoint TEXT NOT NULL,
                route TEXT,
                deployment TEXT,
                provider TEXT,
                upstream_model TEXT,
                streamed INTEGER NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cached_input_tokens BIGINT NOT NULL,
                usage_estimated INTEGER NOT NULL,
                cost_nanos BIGINT NOT NULL,
                currency TEXT NOT NULL,
                latency_us BIGINT NOT NULL,
                ttft_us BIGINT,
                status INTEGER NOT NULL,
                error_class TEXT,
                tags TEXT NOT NULL
            );
            CREATE INDEX usage_records_started_at ON usage_records (started_at);
            CREATE INDEX usage_records_tenant_started_at ON usage_records (tenant, started_at);
            """
        ),
        (
            2,
            """
            ALTER TABLE usage_records ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';
            """
        ),
        (
            3,
            // Hourly rollups answer cost reports over months of traffic without scanning every
            // record. Absent attributes are '' rather than NULL so the unique key matches them.
            """
            ALTER TABLE usage_records ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
            ALTER TABLE usage_records ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;
            CREATE TABLE usage_rollups (
                bucket_start BIGINT NOT NULL,
                tenant TEXT NOT NULL,
                agent TEXT NOT NULL,
                key_id TEXT NOT NULL,
                route TEXT NOT NULL,
                deployment TEXT NOT NULL,
                provider TEXT NOT NULL,
                upstream_model TEXT NOT NULL,
                tags TEXT NOT NULL,
                currency TEXT NOT NULL,
                requests BIGINT NOT NULL,
                errors BIGINT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cached_input_tokens BIGINT NOT NULL,
                cache_write_tokens BIGINT NOT NULL,
                reasoning_tokens BIGINT NOT NULL,
                estimated BIGINT NOT NULL,
                cost_nanos BIGINT NOT NULL,
                busy_us BIGINT NOT NULL
            );
            CREATE UNIQUE INDEX usage_rollups_key ON usage_rollups
                (bucket_start, tenant, agent, key_id, route, deployment, provider, upstream_model, tags, currency);
            INSERT INTO usage_rollups
            SELECT started_at - (started_at % 3600000000), COALESCE(tenant, ''), COALESCE(agent, ''), COALESCE(key_id, ''),
                COALESCE(route, ''), COALESCE(deployment, ''), COALESCE(provider, ''), COALESCE(upstream_model, ''),
                tags, currency, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(input_tokens),
                SUM(output_tokens), SUM(cached_input_tokens), 0, 0, SUM(usage_estimated), SUM(cost_nanos), SUM(latency_us)
            FROM usage_records
            GROUP BY started_at - (started_at % 3600000000), COALESCE(tenant, ''), COALESCE(agent, ''),
                COALESCE(key_id, ''), COALESCE(route, ''), COALESCE(deployment, ''), COALESCE(provider, ''),
                COALESCE(upstream_model, ''), tags, currency;
            CREATE TABLE model_prices (
                model TEXT NOT NULL,
                effective_from BIGINT NOT NULL,
                source TEXT NOT NULL,
                input_per_mtok TEXT NOT NULL,
                output_per_mtok TEXT NOT NULL,
                cached_input_per_mtok TEXT,
                cache_write_per_mtok TEXT,
                reasoning_per_mtok TEXT,
                per_request TEXT NOT NULL,
                currency TEXT NOT NULL,
                context_window BIGINT,
                PRIMARY KEY (model, effective_from)
            );
            """
        ),
        (
            4,
            // Keys bind to a project within their tenant; the audit trail is a hash chain in sequence order.
            """
            ALTER TABLE api_keys ADD COLUMN project TEXT;
            CREATE TABLE audit_log (
                sequence BIGINT PRIMARY KEY,
                at BIGINT NOT NULL,
                principal TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                tenant TEXT,
                before_value TEXT,
                after_value TEXT,
                detail TEXT,
                previous_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            );
            CREATE INDEX audit_log_tenant ON audit_log (tenant, sequence);
            """
        ),
        (
            5,
            """
            CREATE TABLE kill_switches (
                scope TEXT PRIMARY KEY,
                engaged_at BIGINT NOT NULL,
                reason TEXT NOT NULL,
                engaged_by TEXT NOT NULL
            );
            """
        ),
        (
            6,
            """
            CREATE TABLE admin_keys (
                id TEXT PRIMARY KEY,
                key_hash TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL,
                tenant TEXT,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT
            );
            """
        ),
        (
            7,
            // Live governance state (tenants, policies, limits, budgets), one canonical JSON
            // declaration per object; the revision row changes with every write so replicas notice.
            """
            CREATE TABLE governance_objects (
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                declaration TEXT NOT NULL,
                updated_at BIGINT NOT NULL,
                updated_by TEXT NOT NULL,
                PRIMARY KEY (kind, name)
            );
            CREATE TABLE governance_revision (
                id INTEGER PRIMARY KEY,
                revision BIGINT NOT NULL
            );
            INSERT INTO governance_revision (id, revision) VALUES (1, 0);
            """
        ),
        (
            8,
            // The role a kill switch was engaged with (tenant-admin or admin); releasing it takes
            // as much. NULL, in rows from before, reads as admin.
            """
            ALTER TABLE kill_switches ADD COLUMN authority TEXT;
            """
        ),
        (
            9,
            // Audit entries carry a MAC and the id of the key that made it (NULL: appended with no
            // key configured), and their place in their tenant's own numbering, which tenants page
            // their audit view by; entries from before are numbered here, in one pass (a count per
            // entry would be quadratic in a tenant's entries).
            """
            ALTER TABLE audit_log ADD COLUMN key_id TEXT;
            ALTER TABLE audit_log ADD COLUMN mac TEXT;
            ALTER TABLE audit_log ADD COLUMN tenant_sequence BIGINT;
            UPDATE audit_log SET tenant_sequence = numbered.position FROM (
                SELECT sequence, ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY sequence) AS position
                FROM audit_log WHERE tenant IS NOT NULL
            ) AS numbered WHERE audit_log.sequence = numbered.sequence;
            CREATE UNIQUE INDEX audit_log_tenant_sequence ON audit_log (tenant, tenant_sequence);
            """
        ),
        (
            10,
            // The replica that served each request (`server.replica_id`); NULL in rows from before.
            """
            ALTER TABLE usage_records ADD COLUMN replica TEXT;
            """
        ),
        (
            11,
            // The W3C trace id of each request (traced, or a client's passed through); NULL otherwise.
            """
            ALTER TABLE usage_records ADD COLUMN trace_id TEXT;
            """
        ),
        (
            12,
            // Agent runs: each record names its run (and step, and whether it made the run loop);
            // one row per run and one per run, hour, model, currency and writer (the process that
            // stored it), added to in the ledger batch that stores the records, so a run of 100k
            // requests is a handful of rows. Each replica reads the rest of the fleet's share of
            // its runs from run_hours (the run rules count a run across the fleet).
            """
            ALTER TABLE usage_records ADD COLUMN run_id TEXT;
            ALTER TABLE usage_records ADD COLUMN run_step TEXT;
            ALTER TABLE usage_records ADD COLUMN run_loop INTEGER NOT NULL DEFAULT 0;
            CREATE TABLE runs (
                tenant TEXT NOT NULL,
                run_id TEXT NOT NULL,
                agent TEXT,
                started_at BIGINT NOT NULL,
                last_activity BIGINT NOT NULL,
                loops BIGINT NOT NULL,
                last_step TEXT,
                PRIMARY KEY (tenant, run_id)
            );
            CREATE INDEX runs_last_activity ON runs (last_activity);
            CREATE INDEX runs_tenant_last_activity ON runs (tenant, last_activity);
            CREATE TABLE run_hours (
                tenant TEXT NOT NULL,
                run_id TEXT NOT NULL,
                hour_start BIGINT NOT NULL,
                model TEXT NOT NULL,
                currency TEXT NOT NULL,
                writer TEXT NOT NULL,
                requests BIGINT NOT NULL,
                errors BIGINT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cost_nanos BIGINT NOT NULL,
                PRIMARY KEY (tenant, run_id, hour_start, model, currency, writer)
            );
            """
        ),
        (
            13,
            // A run's figures per step (x-switchyard-step; '' for requests without one), added to
            // in the ledger batch like run_hours, and filled here from the records already stored.
            """
            CREATE TABLE run_steps (
                tenant TEXT NOT NULL,
                run_id TEXT NOT NULL,
                step TEXT NOT NULL,
                currency TEXT NOT NULL,
                first_at BIGINT NOT NULL,
                last_at BIGINT NOT NULL,
                requests BIGINT NOT NULL,
                errors BIGINT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cost_nanos BIGINT NOT NULL,
                PRIMARY KEY (tenant, run_id, step, currency)
            );
            CREATE INDEX run_steps_first_at ON run_steps (tenant, run_id, first_at);
            INSERT INTO run_steps (tenant, run_id, step, currency, first_at, last_at, requests, errors, input_tokens,
                output_tokens, cost_nanos)
            SELECT tenant, run_id, COALESCE(run_step, ''), currency, MIN(started_at), MAX(finished_at), COUNT(*),
                SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(input_tokens), SUM(output_tokens), SUM(cost_nanos)
            FROM usage_records WHERE run_id IS NOT NULL AND tenant IS NOT NULL
            GROUP BY tenant, run_id, COALESCE(run_step, ''), currency;
            """
        ),
        (
            14,
            // Incidents: one row each, rewritten as it evolves; `detail` is its JSON as the admin
            // API serves it.
            """
            CREATE TABLE incidents (
                id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                opened_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                resolved_at BIGINT,
                cause_key TEXT NOT NULL,
                summary TEXT NOT NULL,
                detail TEXT NOT NULL
            );
            CREATE INDEX incidents_opened_at ON incidents (opened_at);
            """
        ),
        (
            15,
            // Canary probes: a round per deployment and schedule slot (its JSON in `detail`; '' while
            // it runs, when `cost_nanos` is its worst case reserved against the day's budget), and
            // each deployment's next slot, which one replica claims by moving it on.
            """
            CREATE TABLE probe_rounds (
                deployment TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                declared_model TEXT NOT NULL,
                cost_nanos BIGINT NOT NULL,
                currency TEXT NOT NULL,
                quality_ppm BIGINT,
                drifted INTEGER NOT NULL DEFAULT 0,
                detail TEXT NOT NULL,
                PRIMARY KEY (deployment, started_at)
            );
            CREATE INDEX probe_rounds_started_at ON probe_rounds (started_at);
            CREATE TABLE probe_schedule (
                deployment TEXT PRIMARY KEY,
                due_at BIGINT NOT NULL
            );
            """
        ),
        (
            16,
            // Console sessions, shared by the replicas behind a load balancer: the token's SHA-256
            // (never the token), who signed in, the session's CSRF token and when it expires.
            """
            CREATE TABLE console_sessions (
                token_hash TEXT PRIMARY KEY,
                key_id TEXT,
                role TEXT NOT NULL,
                tenant TEXT,
                csrf TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            );
            CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
            """
        ),
        (
            17,
            // Coarse rollups: the same hours without the key and the tags, which multiply the rows
            // (a customer tag alone, by its number of customers). Reports and console pages that
            // group by neither read these: a month is thousands of rows, not millions.
            """
            CREATE TABLE usage_rollups_coarse (
                bucket_start BIGINT NOT NULL,
                tenant TEXT NOT NULL,
                agent TEXT NOT NULL,
                key_id TEXT NOT NULL,
                route TEXT NOT NULL,
                deployment TEXT NOT NULL,
                provider TEXT NOT NULL,
                upstream_model TEXT NOT NULL,
                tags TEXT NOT NULL,
                currency TEXT NOT NULL,
                requests BIGINT NOT NULL,
                errors BIGINT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cached_input_tokens BIGINT NOT NULL,
                cache_write_tokens BIGINT NOT NULL,
                reasoning_tokens BIGINT NOT NULL,
                estimated BIGINT NOT NULL,
                cost_nanos BIGINT NOT NULL,
                busy_us BIGINT NOT NULL
            );
            INSERT INTO usage_rollups_coarse
            SELECT bucket_start, tenant, agent, '', route, deployment, provider, upstream_model, '{}', currency,
                SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens),
                SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(estimated), SUM(cost_nanos), SUM(busy_us)
            FROM usage_rollups
            GROUP BY bucket_start, tenant, agent, route, deployment, provider, upstream_model, currency;
            CREATE UNIQUE INDEX usage_rollups_coarse_key ON usage_rollups_coarse
                (bucket_start, tenant, agent, key_id, route, deployment, provider, upstream_model, tags, currency);
            """
        ),
        (
            18,
            // Tag rollups: per hour, tenant, deployment and currency, one row per tag key and value
            // (a record with three tags is in three rows). A report grouped by one tag reads its
            // key's rows, and the traffic without that key as the coarse rollups' remainder.
            // TAG_PAIRS is each engine's JSON table function over `r.tags` (see `apply`).
            """
            CREATE TABLE usage_rollups_tags (
                bucket_start BIGINT NOT NULL,
                tenant TEXT NOT NULL,
                deployment TEXT NOT NULL,
                tag_key TEXT NOT NULL,
                tag_value TEXT NOT NULL,
                currency TEXT NOT NULL,
                requests BIGINT NOT NULL,
                errors BIGINT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cached_input_tokens BIGINT NOT NULL,
                cache_write_tokens BIGINT NOT NULL,
                reasoning_tokens BIGINT NOT NULL,
                estimated BIGINT NOT NULL,
                cost_nanos BIGINT NOT NULL,
                busy_us BIGINT NOT NULL
            );
            INSERT INTO usage_rollups_tags
            SELECT r.bucket_start, r.tenant, r.deployment, j.key, j.value, r.currency, SUM(r.requests), SUM(r.errors),
                SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.cached_input_tokens), SUM(r.cache_write_tokens),
                SUM(r.reasoning_tokens), SUM(r.estimated), SUM(r.cost_nanos), SUM(r.busy_us)
            FROM usage_rollups r, TAG_PAIRS
            GROUP BY r.bucket_start, r.tenant, r.deployment, j.key, j.value, r.currency;
            CREATE UNIQUE INDEX usage_rollups_tags_key ON usage_rollups_tags
                (tag_key, bucket_start, tenant, deployment, tag_value, currency);
            """
        ),
    ]

    /// A step's text for the engine: the one construct the two spell differently.
    static func sql(_ text: String, for dialect: SQLDialect) -> String {
        // PostgreSQL's jsonb refuses \u0000, which a tag could hold before tags refused control
        // characters: such a set is left out there (its traffic counts as untagged).
        text.replacingOccurrences(
            of: "TAG_PAIRS",
            with: dialect == .postgres
                ? "jsonb_each_text(CASE WHEN strpos(r.tags, '\\u0000') = 0 THEN r.tags::jsonb ELSE '{}'::jsonb END) AS j(key, value)"
                : "json_each(r.tags) AS j")
    }

    /// Applies the steps not yet recorded in `schema_migrations`. On PostgreSQL an advisory lock
    /// makes replicas starting together apply each step once. The lock is a session's, so all of
    /// this is one session: if it is lost, the server has released the lock and the rest is
    /// abandoned (it fails), rather than carried on, and unlocked, on a new session without it.
    static func apply(on connection: SQLConnection) throws {
        try connection.withSession {
            if connection.dialect == .postgres {
                try connection.query("SELECT pg_advisory_lock(7418001)")
            }
            defer {
                if connection.dialect == .postgres {
                    _ = try? connection.query("SELECT pg_advisory_unlock(7418001)")
                }
            }
            try connection.executeScript(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            let applied = Set(try connection.query("SELECT version FROM schema_migrations").compactMap { $0[0].integer })
            for step in steps where !applied.contains(step.version) {
                try connection.transaction {
                    try connection.executeScript(sql(step.sql, for: connection.dialect))
                    try connection.query(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        [.integer(step.version), .integer(UnixMicros.now().value)])
                }
            }
        }
    }

    static var latestVersion: Int64 { steps.last?.version ?? 0 }
}
