/// What a replica changed in the store that every replica keeps a copy of. On PostgreSQL each
/// change is announced (`NOTIFY`) in the transaction that makes it, so the others refresh at
/// once (`PostgresChangeListener`) instead of at their next poll.
public enum StoreChange: String, Sendable, CaseIterable {
    case killSwitches = "kill_switches"
    case keys
    case governance

    /// The PostgreSQL channel the notices go on.
    static let channel = "switchyard_changes"
}

extension SQLConnection {
    /// Announces `change` when the transaction commits (PostgreSQL); nothing on SQLite, where
    /// replicas sharing a file poll.
    func announce(_ change: StoreChange) throws {
        guard dialect == .postgres else { return }
        try query("SELECT pg_notify(?, ?)", [.text(StoreChange.channel), .text(change.rawValue)])
    }
}
