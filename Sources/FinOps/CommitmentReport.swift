import Foundation
import SwitchyardCore

/// How a provider contract is being used: to date, forecast to the end of its period from
/// the recent trend, and the money that forecast leaves unused (shortfall) or above (overage).
public struct CommitmentStatus: Hashable, Sendable {
    public var commitment: String
    public var provider: String
    public var currency: String
    public var periodStart: UnixMicros
    public var periodEnd: UnixMicros
    public var asOf: UnixMicros
    /// Spend to date at contract prices (list × (1 − discount)).
    public var spendToDateNanos: Int64
    public var forecastSpendNanos: Int64
    public var committedSpendNanos: Int64?
    public var shortfallNanos: Int64?
    public var overageNanos: Int64?
    public var tokensToDate: Int64
    public var forecastTokens: Int64
    public var reservedTokens: Int64?
    /// Overage tokens priced at the contract's overage rate.
    public var tokenOverageCostNanos: Int64?
    /// Forecast spend (or tokens) as a fraction of the commitment, 4 decimals.
    public var forecastUtilization: Decimal?
    public var warnings: [String]

    /// - Parameters:
    ///   - rollups: at least the commitment period up to `asOf` (and the trend window).
    ///   - trendDays: the forecast extrapolates the average rate of this many days before `asOf`
    ///     (or of the period so far, when shorter).
    public init?(commitment: Commitment, rollups: [UsageRollup], asOf: UnixMicros, trendDays: Int64 = 7) {
        guard let period = commitment.period(containing: asOf) else { return nil }
        self.commitment = commitment.name
        self.provider = commitment.provider
        self.currency = commitment.currency
        self.periodStart = period.start
        self.periodEnd = period.end
        self.asOf = asOf
        // On a whole hour, like the rollups the trend is summed from.
        let trendStart = max(
            period.start, CalendarPeriod.hour(containing: UnixMicros(asOf.value - trendDays * 86_400_000_000)).start)
        var listToDate: Int64 = 0
        var listInTrend: Int64 = 0
        var tokens: Int64 = 0
        var tokensInTrend: Int64 = 0
        for rollup in rollups
        where rollup.provider == commitment.provider && rollup.currency == commitment.currency
            && rollup.bucketStart >= period.start && rollup.bucketStart < asOf
        {
            let rollupTokens = Int64(rollup.usage.inputTokens + rollup.usage.outputTokens)
            listToDate += rollup.costNanos
            tokens += rollupTokens
            if rollup.bucketStart >= trendStart {
                listInTrend += rollup.costNanos
                tokensInTrend += rollupTokens
            }
        }
        let spend = commitment.contracted(Money(nanos: listToDate, currency: currency)).nanos
        let spendInTrend = commitment.contracted(Money(nanos: listInTrend, currency: currency)).nanos
        let trendLength = Decimal(asOf.value - trendStart.value)
        let remaining = Decimal(period.end.value - asOf.value)
        func forecast(_ toDate: Int64, _ inTrend: Int64) -> Int64 {
            guard trendLength > 0 else { return toDate }
            return toDate + ((Decimal(inTrend) * remaining / trendLength).roundedToInt64() ?? 0)
        }
        spendToDateNanos = spend
        forecastSpendNanos = forecast(spend, spendInTrend)
        tokensToDate = tokens
        forecastTokens = forecast(tokens, tokensInTrend)
        reservedTokens = commitment.reservedTokens
        warnings = []
        committedSpendNanos = commitment.committedSpend.flatMap { ($0 * Decimal(Money.nanosPerUnit)).roundedToInt64() }
        if let committed = committedSpendNanos {
            shortfallNanos = max(0, committed - forecastSpendNanos)
            overageNanos = max(0, forecastSpendNanos - committed)
        }
        if let reserved = reservedTokens, let rate = commitment.overagePerMillion {
            let over = max(0, forecastTokens - reserved)
            tokenOverageCostNanos = (Decimal(over) * rate * 1000).roundedToInt64()
        }
        // Utilization is measured in money when the contract commits money, else in tokens.
        let measure: (used: Int64, whole: Int64)? =
            if let committed = committedSpendNanos { (forecastSpendNanos, committed) } else if let reserved = reservedTokens {
                (forecastTokens, reserved)
            } else { nil }
        if let (used, whole) = measure, whole > 0 {
            var ratio = Decimal(used) / Decimal(whole)
            var rounded = Decimal()
            NSDecimalRound(&rounded, &ratio, 4, .bankers)
            forecastUtilization = rounded
            if rounded < commitment.warnBelow {
                warnings.append(
                    "forecast uses \(Self.percent(rounded)) of the commitment (warn below \(Self.percent(commitment.warnBelow)))"
                        + (shortfallNanos.map { ", shortfall \(Money.format(nanos: $0)) \(currency)" } ?? ""))
            }
            if rounded > 1 {
                warnings.append(
                    "forecast exceeds the commitment: \(Self.percent(rounded))"
                        + (overageNanos.map { ", overage \(Money.format(nanos: $0)) \(currency)" } ?? ""))
            }
        }
    }

    static func percent(_ fraction: Decimal) -> String {
        var value = fraction * 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 1, .bankers)
        return "\(rounded)%"
    }
}
