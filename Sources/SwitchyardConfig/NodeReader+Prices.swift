import Foundation
import SwitchyardCore
import Yams

/// Prices, capacity costs, contracts and the FinOps section.
extension NodeReader {
    func price(_ node: Node, _ path: String, extraKeys: [String] = []) throws -> TokenPrices {
        let entries = try mapping(node, path, allowed: Self.priceKeys + extraKeys)
        guard let input = try decimal(entries["input_per_mtok"], path + ".input_per_mtok") else {
            throw error(node, path + ".input_per_mtok", "is required")
        }
        guard let output = try decimal(entries["output_per_mtok"], path + ".output_per_mtok") else {
            throw error(node, path + ".output_per_mtok", "is required")
        }
        return TokenPrices(
            inputPerMillion: input, outputPerMillion: output,
            cachedInputPerMillion: try decimal(entries["cached_input_per_mtok"], path + ".cached_input_per_mtok"),
            cacheWritePerMillion: try decimal(entries["cache_write_per_mtok"], path + ".cache_write_per_mtok"),
            reasoningPerMillion: try decimal(entries["reasoning_per_mtok"], path + ".reasoning_per_mtok"),
            perRequest: try decimal(entries["per_request"], path + ".per_request") ?? 0,
            currency: try currency(entries["currency"], path + ".currency"))
    }

    func currency(_ node: Node?, _ path: String) throws -> String {
        let currency = try string(node, path, required: false) ?? "USD"
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw error(node, path, "expected a three-letter ISO 4217 code such as USD")
        }
        return currency
    }

    /// A dated price list. Dates must fall on a whole hour (UTC): the ledger's hourly rollups then
    /// never mix two prices, so re-pricing them is exact.
    func priceSchedule(_ node: Node, _ path: String) throws -> PriceSchedule {
        var entries: [PriceSchedule.Entry] = []
        let items = try sequence(node, path)
        guard !items.isEmpty else { throw error(node, path, "needs at least one price") }
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            let prices = try price(item, itemPath, extraKeys: ["effective_from"])
            let fields = try mapping(item, itemPath, allowed: Self.priceKeys + ["effective_from"])
            let from = try time(fields["effective_from"], itemPath + ".effective_from") ?? UnixMicros(0)
            guard from.value % 3_600_000_000 == 0 else {
                throw error(fields["effective_from"], itemPath + ".effective_from", "must be on a whole hour (UTC)")
            }
            guard !entries.contains(where: { $0.effectiveFrom == from }) else {
                throw error(fields["effective_from"], itemPath + ".effective_from", "two prices take effect at the same time")
            }
            if let first = entries.first?.prices.currency, first != prices.currency {
                throw error(fields["currency"], itemPath + ".currency", "every price of one deployment must use one currency")
            }
            entries.append(PriceSchedule.Entry(effectiveFrom: from, prices: prices))
        }
        return PriceSchedule(entries)
    }

    func time(_ node: Node?, _ path: String) throws -> UnixMicros? {
        guard let text = try string(node, path, required: false) else { return nil }
        guard let time = UnixMicros(dateOrTimestamp: text) else {
            throw error(node, path, "expected a date (2026-11-01) or a timestamp (2026-11-01T12:00:00Z)")
        }
        return time
    }

    func capacity(_ node: Node, _ path: String) throws -> CapacityCost {
        let entries = try mapping(node, path, allowed: ["cost_per_hour", "cost_per_month", "slots", "currency"])
        let hourly = try decimal(entries["cost_per_hour"], path + ".cost_per_hour")
        let monthly = try decimal(entries["cost_per_month"], path + ".cost_per_month")
        let rate: CapacityCost.Rate
        switch (hourly, monthly) {
        case (let hourly?, nil): rate = .hourly(hourly)
        case (nil, let monthly?): rate = .monthly(monthly)
        default: throw error(node, path, "give exactly one of cost_per_hour or cost_per_month")
        }
        return CapacityCost(
            rate: rate, slots: try integer(entries["slots"], path + ".slots", range: 1...100_000) ?? 1,
            currency: try currency(entries["currency"], path + ".currency"))
    }

    func commitment(_ node: Node, _ path: String, providers: Set<String>) throws -> Commitment {
        let entries = try mapping(
            node, path,
            allowed: [
                "name", "provider", "period", "start", "end", "committed_spend", "reserved_tokens", "discount_rate",
                "overage_per_mtok", "warn_below", "currency",
            ])
        let name = try name(entries["name"], path + ".name", parent: node)
        let provider = try requiredString(entries["provider"], path + ".provider", parent: node)
        guard providers.contains(provider) else {
            throw error(entries["provider"], path + ".provider", "no provider named '\(provider)' is declared under providers")
        }
        let periodText = try string(entries["period"], path + ".period", required: false) ?? "month"
        guard let period = Commitment.Period(rawValue: periodText) else {
            throw error(entries["period"], path + ".period", "expected month or term")
        }
        guard let start = try time(entries["start"], path + ".start") else { throw error(node, path + ".start", "is required") }
        guard let end = try time(entries["end"], path + ".end") else { throw error(node, path + ".end", "is required") }
        guard end > start else { throw error(entries["end"], path + ".end", "must be after start") }
        let spend = try decimal(entries["committed_spend"], path + ".committed_spend")
        let tokens = try integer(entries["reserved_tokens"], path + ".reserved_tokens", range: 1...Int.max)
        guard spend != nil || tokens != nil else {
            throw error(node, path, "give committed_spend, reserved_tokens or both")
        }
        let discount = try decimal(entries["discount_rate"], path + ".discount_rate") ?? 0
        guard discount < 1 else { throw error(entries["discount_rate"], path + ".discount_rate", "expected a fraction below 1") }
        let warnBelow = try decimal(entries["warn_below"], path + ".warn_below") ?? Decimal(string: "0.9")!
        guard warnBelow <= 1 else { throw error(entries["warn_below"], path + ".warn_below", "expected a fraction up to 1") }
        return Commitment(
            name: name, provider: provider, period: period, termStart: start, termEnd: end, committedSpend: spend,
            reservedTokens: tokens.map(Int64.init), discountRate: discount,
            overagePerMillion: try decimal(entries["overage_per_mtok"], path + ".overage_per_mtok"), warnBelow: warnBelow,
            currency: try currency(entries["currency"], path + ".currency"))
    }

    func finOps(_ node: Node) throws -> SwitchyardConfiguration.FinOps {
        let entries = try mapping(
            node, "finops", allowed: ["max_provider_share", "alert_webhook", "commitment_check_seconds", "rollup_tags"])
        var finOps = SwitchyardConfiguration.FinOps()
        if let share = try decimal(entries["max_provider_share"], "finops.max_provider_share") {
            guard share <= 1 else { throw error(entries["max_provider_share"], "finops.max_provider_share", "expected 0 to 1") }
            finOps.maxProviderShare = share
        }
        if let webhook = try string(entries["alert_webhook"], "finops.alert_webhook", required: false) {
            guard let url = URL(string: webhook), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw error(entries["alert_webhook"], "finops.alert_webhook", "'\(webhook)' is not an http(s) URL")
            }
            finOps.alertWebhook = webhook
        }
        if let interval = try duration(
            entries["commitment_check_seconds"], "finops.commitment_check_seconds", unit: .seconds(1), range: 1...86_400)
        {
            finOps.checkInterval = interval
        }
        if let keys = try names(entries["rollup_tags"], "finops.rollup_tags") { finOps.rollupTags = Set(keys) }
        return finOps
    }
}
