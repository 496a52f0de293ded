import Foundation
import SwitchyardCore

/// Cost rows in the FinOps Open Cost and Usage Specification (FOCUS 1.2) column set, so
/// FinOps tools ingest Switchyard's ledger like a cloud bill.
///
/// One row per hour, deployment, attribution key and priced component (input, cached input,
/// cache write, output and reasoning tokens, per-request fees). ListCost is the ledger's
/// recorded cost; ContractedCost (= BilledCost = EffectiveCost) applies the discount of a
/// provider contract in effect. Columns Switchyard adds are prefixed `x_`, as FOCUS requires.
public struct FocusExport: Sendable {
    public static let columns = [
        "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
        "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName",
        "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
        "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "SkuId",
        "SkuPriceId", "SubAccountId", "SubAccountName", "Tags", "x_Agent", "x_KeyId", "x_Route", "x_Requests",
    ]

    public struct Context: Sendable {
        public var billingAccount: String
        /// Price schedules by deployment, to split a cost into its components.
        public var prices: [String: PriceSchedule]
        /// Region by provider.
        public var regions: [String: String]
        public var commitments: [Commitment]

        public init(
            billingAccount: String = "switchyard", prices: [String: PriceSchedule], regions: [String: String] = [:],
            commitments: [Commitment] = []
        ) {
            self.billingAccount = billingAccount
            self.prices = prices
            self.regions = regions
            self.commitments = commitments
        }
    }

    /// Every row, as column values in `columns` order; nil is a null (an empty CSV field).
    public static func rows(rollups: [UsageRollup], period: ReportPeriod, context: Context) -> [[String?]] {
        var rows: [[String?]] = []
        var tagTexts: [[String: String]: String] = [:]
        var months: [UnixMicros: CalendarPeriod] = [:]
        // A handful of distinct prices over millions of rows: format each once.
        var priceTexts: [Decimal: String] = [:]
        func priceText(_ price: Decimal) -> String {
            if let text = priceTexts[price] { return text }
            let text = plain(price)
            priceTexts[price] = text
            return text
        }
        let sorted = rollups.filter { period.contains($0.bucketStart) && ($0.costNanos != 0 || $0.requests > 0) }
            .sorted { $0.bucketStart < $1.bucketStart }
        for rollup in sorted {
            let hourEnd = UnixMicros(rollup.bucketStart.value + 3_600_000_000)
            let month = CalendarPeriod.month(containing: rollup.bucketStart)
            let commitment = context.commitments.first {
                $0.provider == rollup.provider && $0.currency == rollup.currency
                    && $0.period(containing: rollup.bucketStart) != nil
            }
            let provider = rollup.provider ?? "switchyard"
            let tags = tagTexts[rollup.tags] ?? tagsJSON(rollup.tags)
            tagTexts[rollup.tags] = tags
            let model = rollup.model ?? "none"
            for charge in charges(of: rollup, prices: rollup.deployment.flatMap { context.prices[$0] }) {
                let list = Money(nanos: charge.listNanos, currency: rollup.currency)
                let contracted = commitment?.contracted(list) ?? list
                let discount = commitment?.discountRate ?? 0
                rows.append([
                    contracted.decimalString, context.billingAccount, context.billingAccount, rollup.currency,
                    timestamp(month.end), timestamp(month.start), "Usage", nil,
                    "\(charge.description) of \(model) on \(rollup.deployment ?? "no deployment")", "Usage-Based",
                    timestamp(hourEnd), timestamp(rollup.bucketStart), String(charge.consumed), charge.consumedUnit,
                    contracted.decimalString, priceText(charge.unitPrice * (1 - discount)), contracted.decimalString, provider,
                    list.decimalString, priceText(charge.unitPrice), commitment == nil ? "Standard" : "Committed",
                    charge.pricingQuantity, charge.pricingUnit, provider, provider,
                    context.regions[provider], context.regions[provider], rollup.deployment, rollup.deployment,
                    "Model Deployment", "AI and Machine Learning", model, "\(model):\(charge.sku)",
                    "\(model):\(charge.sku):\(charge.priceVersion)", rollup.tenant, rollup.tenant, tags,
                    rollup.agent, rollup.keyID, rollup.route, String(rollup.requests),
                ])
            }
        }
        return rows
    }

    struct Charge {
        var sku: String
        var description: String
        var consumed: Int64
        var consumedUnit: String
        /// The quantity as exact decimal text.
        var pricingQuantity: String
        var pricingUnit: String
        var unitPrice: Decimal
        var listNanos: Int64
        var priceVersion: String
    }

    /// The rollup's recorded cost split by priced component. When re-pricing the components does
    /// not reproduce the recorded cost (prices changed without a dated entry), one per-request
    /// row carries the recorded cost instead, so the export always sums to the ledger.
    static func charges(of rollup: UsageRollup, prices schedule: PriceSchedule?) -> [Charge] {
        if let schedule {
            let prices = schedule.prices(at: rollup.bucketStart)
            let version = schedule.entries.last { $0.effectiveFrom <= rollup.bucketStart }?.effectiveFrom ?? UnixMicros(0)
            var charges: [Charge] = []
            for component in PriceComponent.tokenComponents {
                let quantity = Int64(component.quantity(in: rollup.usage))
                guard quantity > 0 else { continue }
                let unitPrice = prices.perMillion(component)
                var usage = TokenUsage()
                switch component {
                case .input: usage.inputTokens = Int(quantity)
                case .cachedInput: (usage.inputTokens, usage.cachedInputTokens) = (Int(quantity), Int(quantity))
                case .cacheWrite: (usage.inputTokens, usage.cacheWriteInputTokens) = (Int(quantity), Int(quantity))
                case .output: usage.outputTokens = Int(quantity)
                case .reasoning: (usage.outputTokens, usage.reasoningTokens) = (Int(quantity), Int(quantity))
                case .request: break
                }
                charges.append(
                    Charge(
                        sku: component.rawValue,
                        description: component.rawValue.replacingOccurrences(of: "_", with: " ") + " tokens",
                        consumed: quantity, consumedUnit: "Tokens", pricingQuantity: millions(quantity),
                        pricingUnit: "1M Tokens", unitPrice: unitPrice,
                        listNanos: prices.cost(of: usage, requests: 0).nanos, priceVersion: timestamp(version)))
            }
            if prices.perRequest > 0, rollup.requests > 0 {
                charges.append(
                    Charge(
                        sku: "request", description: "requests", consumed: rollup.requests, consumedUnit: "Requests",
                        pricingQuantity: String(rollup.requests), pricingUnit: "Requests", unitPrice: prices.perRequest,
                        listNanos: prices.cost(of: TokenUsage(), requests: rollup.requests).nanos,
                        priceVersion: timestamp(version)))
            }
            if charges.reduce(0, { $0 + $1.listNanos }) == rollup.costNanos { return charges }
        }
        // Recorded cost that current prices do not explain: one row, priced per request.
        let requests = max(rollup.requests, 1)
        return [
            Charge(
                sku: "usage", description: "usage", consumed: requests, consumedUnit: "Requests",
                pricingQuantity: String(requests), pricingUnit: "Requests",
                unitPrice: Decimal(rollup.costNanos) / Decimal(Money.nanosPerUnit) / Decimal(requests),
                listNanos: rollup.costNanos, priceVersion: "recorded")
        ]
    }

    /// RFC 3339 in UTC with a `Z`, the format FOCUS requires for date/time columns.
    public static func timestamp(_ time: UnixMicros) -> String { time.rfc3339Seconds }

    /// A decimal in plain notation (never exponent form), at most 18 decimals.
    /// `tokens` / 10⁶ as exact decimal text, in integer arithmetic (`1234` → `0.001234`).
    static func millions(_ tokens: Int64) -> String {
        let fraction = String(tokens % 1_000_000)
        var text = "\(tokens / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func plain(_ value: Decimal) -> String {
        var source = value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &source, 18, .bankers)
        return "\(rounded)"  // Decimal's description is plain notation, never an exponent
    }

    static func tagsJSON(_ tags: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(tags)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
