import Foundation
import SwitchyardCore

/// Model prices imported into the store (`switchyard prices import`), with their dates.
public struct StoredModelPrice: Hashable, Sendable {
    public var model: String
    public var effectiveFrom: UnixMicros
    public var source: String
    public var prices: TokenPrices
    public var contextWindow: Int?

    public init(model: String, effectiveFrom: UnixMicros, source: String, prices: TokenPrices, contextWindow: Int?) {
        self.model = model
        self.effectiveFrom = effectiveFrom
        self.source = source
        self.prices = prices
        self.contextWindow = contextWindow
    }
}

extension SQLStore {
    /// Adds or replaces prices (one per model and date); prices with other dates stay as history.
    public func upsertModelPrices(_ entries: [StoredModelPrice]) async throws {
        try await run { connection in
            try connection.transaction {
                for entry in entries {
                    let prices = entry.prices
                    try connection.query(
                        "DELETE FROM model_prices WHERE model = ? AND effective_from = ?",
                        [.text(entry.model), .integer(entry.effectiveFrom.value)])
                    try connection.query(
                        """
                        INSERT INTO model_prices (model, effective_from, source, input_per_mtok, output_per_mtok,
                            cached_input_per_mtok, cache_write_per_mtok, reasoning_per_mtok, per_request, currency, context_window)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                        [
                            .text(entry.model), .integer(entry.effectiveFrom.value), .text(entry.source),
                            .text("\(prices.inputPerMillion)"), .text("\(prices.outputPerMillion)"),
                            .optional(prices.cachedInputPerMillion.map { "\($0)" }),
                            .optional(prices.cacheWritePerMillion.map { "\($0)" }),
                            .optional(prices.reasoningPerMillion.map { "\($0)" }), .text("\(prices.perRequest)"),
                            .text(prices.currency), .optional(entry.contextWindow.map(Int64.init)),
                        ])
                }
            }
        }
    }

    public func modelPrices() async throws -> [StoredModelPrice] {
        try await run { connection in
            try connection.query(
                """
                SELECT model, effective_from, source, input_per_mtok, output_per_mtok, cached_input_per_mtok,
                    cache_write_per_mtok, reasoning_per_mtok, per_request, currency, context_window
                FROM model_prices ORDER BY model, effective_from
                """
            ).compactMap { row in
                func decimal(_ index: Int) -> Decimal? { row[index].text.flatMap { Decimal(exactLiteral: $0) } }
                guard let model = row[0].text, let input = decimal(3), let output = decimal(4) else { return nil }
                return StoredModelPrice(
                    model: model, effectiveFrom: UnixMicros(row[1].integer ?? 0), source: row[2].text ?? "",
                    prices: TokenPrices(
                        inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: decimal(5),
                        cacheWritePerMillion: decimal(6), reasoningPerMillion: decimal(7), perRequest: decimal(8) ?? 0,
                        currency: row[9].text ?? "USD"),
                    contextWindow: row[10].integer.map(Int.init))
            }
        }
    }
}
