extension Duration {
    /// Whole microseconds (toward zero): usage records, run windows and ledger times count in them.
    public var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    /// Whole milliseconds (toward zero): the unit of the OpenTelemetry variables and HTTP timeouts.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
