import SwitchyardCore
import Yams

/// What it takes to make live governance state match the file, like `terraform plan`: each
/// object added, changed (with the fields that differ) or removed.
public struct GovernancePlan: Sendable {
    public enum Action: String, Sendable {
        case add = "create"
        case change = "update"
        case remove = "delete"
    }

    public struct Change: Sendable {
        public var action: Action
        public var kind: GovernanceRecord.Kind
        public var name: String
        public var before: String?
        public var after: String?

        public var target: String { "\(kind.rawValue):\(name)" }

        /// The audit entry that records this change.
        public func auditEntry(by principal: String) -> AuditEntry {
            AuditEntry(
                principal: principal, action: "\(kind.rawValue).\(action.rawValue)", target: target,
                tenant: GovernancePlan.tenant(of: kind, name: name, declaration: after ?? before), before: before,
                after: after)
        }

        /// The fields that differ, each with its value before and after (nil: absent).
        public var fieldChanges: [(field: String, before: String?, after: String?)] {
            let old = GovernancePlan.fields(before)
            let new = GovernancePlan.fields(after)
            var names = old.map(\.0)
            for (name, _) in new where !names.contains(name) { names.append(name) }
            return names.compactMap { name in
                let was = old.first { $0.0 == name }?.1
                let now = new.first { $0.0 == name }?.1
                return was == now ? nil : (name, was, now)
            }
        }
    }

    /// In the order they can be applied: additions and changes by dependency (tenants first),
    /// then removals in reverse (budgets, limits and policies before the tenants they name).
    public let changes: [Change]

    public init(live: [GovernanceRecord], desired: [GovernanceRecord]) {
        let liveByKey = Dictionary(live.map { ("\($0.kind.rawValue)\u{0}\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        let desiredKeys = Set(desired.map { "\($0.kind.rawValue)\u{0}\($0.name)" })
        var upserts: [Change] = []
        for record in desired.sorted(by: { ($0.kind, $0.name) < ($1.kind, $1.name) }) {
            let existing = liveByKey["\(record.kind.rawValue)\u{0}\(record.name)"]
            guard existing?.declaration != record.declaration else { continue }
            upserts.append(
                Change(
                    action: existing == nil ? .add : .change, kind: record.kind, name: record.name,
                    before: existing?.declaration, after: record.declaration))
        }
        let removals = live.filter { !desiredKeys.contains("\($0.kind.rawValue)\u{0}\($0.name)") }
            .sorted { ($0.kind, $0.name) > ($1.kind, $1.name) }
            .map { Change(action: .remove, kind: $0.kind, name: $0.name, before: $0.declaration, after: nil) }
        changes = upserts + removals
    }

    public var isEmpty: Bool { changes.isEmpty }

    public var writes: [GovernanceWrite] {
        changes.map { change in
            change.after.map { .put(GovernanceRecord(kind: change.kind, name: change.name, declaration: $0)) }
                ?? .remove(kind: change.kind, name: change.name)
        }
    }

    /// The plan for a person: one block per object, then a count.
    public var rendered: String {
        guard !isEmpty else { return "No changes: live governance state matches the file.\n" }
        var text = ""
        for change in changes {
            switch change.action {
            case .add:
                text += "+ \(change.target)\n"
                for (field, _, value) in change.fieldChanges { text += "    \(field): \(value ?? "")\n" }
            case .remove:
                text += "- \(change.target)\n"
            case .change:
                text += "~ \(change.target)\n"
                for (field, before, after) in change.fieldChanges {
                    text += "    \(field): \(before ?? "(none)") -> \(after ?? "(none)")\n"
                }
            }
        }
        let count = { (action: Action) in self.changes.filter { $0.action == action }.count }
        text += "Plan: \(count(.add)) to add, \(count(.change)) to change, \(count(.remove)) to remove.\n"
        return text
    }

    /// The top-level fields of a canonical declaration, each value in its JSON text.
    static func fields(_ declaration: String?) -> [(String, String)] {
        guard let declaration, case .mapping(let mapping)? = try? Yams.compose(yaml: declaration) else { return [] }
        return mapping.compactMap { key, value in key.string.map { ($0, flow(value)) } }
    }

    /// A node in compact flow form: `["a","b"]`, `{"secrets":"block"}`, `100`.
    static func flow(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            scalar.style == .doubleQuoted || scalar.style == .singleQuoted
                ? AuditValue.jsonString(scalar.string) : scalar.string
        case .sequence(let sequence): "[" + sequence.map(flow).joined(separator: ",") + "]"
        case .mapping(let mapping):
            "{" + mapping.map { flow($0.key) + ":" + flow($0.value) }.joined(separator: ",") + "}"
        case .alias: ""
        }
    }

    /// The tenant an object belongs to, for audit visibility: a tenant itself, or its scope's.
    static func tenant(of kind: GovernanceRecord.Kind, name: String, declaration: String?) -> String? {
        kind == .tenant ? name : scope(of: declaration)?.tenant
    }

    /// The `scope` a policy, limit or budget declaration names.
    public static func scope(of declaration: String?) -> GovernanceScope? {
        guard let declaration, case .mapping(let mapping)? = try? Yams.compose(yaml: declaration) else { return nil }
        return mapping["scope"]?.string.flatMap(GovernanceScope.init)
    }
}
