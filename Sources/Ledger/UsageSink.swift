import SwitchyardCore

/// Where finished requests hand their usage record. Must return at once: it is on the request path.
public protocol UsageSink: Sendable {
    func record(_ record: UsageRecord)
}
