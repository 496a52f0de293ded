import SwitchyardCore
import Synchronization

/// The kill switches in force, checked on admission and on every chunk of a stream.
///
/// Checking costs one atomic load while no switch is engaged, so streams pay nothing for the
/// protection until it is used. Runs' switches are armed apart: stopped runs stay listed until
/// released, and requests outside any run must not pay a lookup for them.
public final class KillSwitchBoard: Sendable {
    private let switches = Mutex<[GovernanceScope: KillSwitch]>([:])
    /// Some switch other than a run's is engaged.
    private let armed = Atomic<Bool>(false)
    /// Some run's switch is engaged.
    private let runsArmed = Atomic<Bool>(false)

    public init() {}

    /// The switch that stops `principal`, or its `run`, if any (the most specific one when several apply).
    public func stopping(_ principal: Principal?, run: GovernanceScope? = nil) -> KillSwitch? {
        guard let principal else { return nil }
        let run = runsArmed.load(ordering: .acquiring) ? run : nil
        let principalArmed = armed.load(ordering: .acquiring)
        guard run != nil || principalArmed else { return nil }
        return switches.withLock { switches in
            if let run, let kill = switches[run] { return kill }
            guard principalArmed else { return nil }
            for scope in principal.scopes { if let kill = switches[scope] { return kill } }
            return nil
        }
    }

    /// The switch engaged on exactly `scope`.
    public func stoppingScope(_ scope: GovernanceScope) -> KillSwitch? { switches.withLock { $0[scope] } }

    /// Keeps a switch already engaged on the scope, unless `kill` has more authority (as the store does).
    public func engage(_ kill: KillSwitch) {
        switches.withLock { switches in
            if switches[kill.scope].map({ $0.authority < kill.authority }) ?? true { switches[kill.scope] = kill }
            arm(switches)
        }
    }

    public func release(_ scope: GovernanceScope) {
        switches.withLock { switches in
            switches[scope] = nil
            arm(switches)
        }
    }

    /// Replaces every switch with the store's (another replica or the CLI may have changed them).
    public func replaceAll(_ kills: [KillSwitch]) {
        switches.withLock { switches in
            switches = Dictionary(kills.map { ($0.scope, $0) }, uniquingKeysWith: { first, _ in first })
            arm(switches)
        }
    }

    /// Under the lock, after a change: which checks have something to find.
    private func arm(_ switches: [GovernanceScope: KillSwitch]) {
        var runs = false
        var others = false
        for scope in switches.keys {
            if case .run = scope { runs = true } else { others = true }
            if runs && others { break }
        }
        runsArmed.store(runs, ordering: .releasing)
        armed.store(others, ordering: .releasing)
    }

    /// What the client is told when a kill switch stops its request or stream.
    public static func message(_ kill: KillSwitch) -> String {
        "Stopped by the kill switch on \(kill.scope) (engaged by \(kill.engagedBy) at \(kill.engagedAt.rfc3339Seconds)): \(kill.reason)"
    }

    public var engaged: [KillSwitch] { switches.withLock { $0.values.sorted { $0.scope < $1.scope } } }
}
