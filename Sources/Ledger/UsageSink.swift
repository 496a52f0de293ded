import SwitchyardCore

/// Where finished requests hand their usage record. Must return at once: it is on the request
/// path. The receipt says when the record is where a crash of the process cannot lose it.
public protocol UsageSink: Sendable {
    func record(_ record: UsageRecord) -> UsageReceipt
}
