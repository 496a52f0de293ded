import Foundation
import SwitchyardCore
import WireFormats

/// One model's list price from a catalog (the shipped default, or an imported LiteLLM file),
/// used for deployments whose configuration gives no price.
public struct ModelPrice: Hashable, Sendable {
    public var model: String
    public var effectiveFrom: UnixMicros
    public var prices: TokenPrices
    public var contextWindow: Int?
    /// Where it came from, e.g. `default-2026-11-01` or `litellm:prices.json`.
    public var source: String

    public init(model: String, effectiveFrom: UnixMicros, prices: TokenPrices, contextWindow: Int? = nil, source: String) {
        self.model = model
        self.effectiveFrom = effectiveFrom
        self.prices = prices
        self.contextWindow = contextWindow
        self.source = source
    }
}

/// Model prices by model id, each with its history.
public struct ModelPriceCatalog: Sendable {
    public private(set) var schedules: [String: PriceSchedule] = [:]

    /// Later entries for the same model and date replace earlier ones.
    public init(_ entries: [ModelPrice]) {
        var byModel: [String: [UnixMicros: TokenPrices]] = [:]
        for entry in entries { byModel[entry.model, default: [:]][entry.effectiveFrom] = entry.prices }
        for (model, dated) in byModel {
            schedules[model] = PriceSchedule(dated.map { PriceSchedule.Entry(effectiveFrom: $0.key, prices: $0.value) })
        }
    }

    /// The schedule for `model`, also trying it without a `provider/` prefix.
    public func schedule(for model: String) -> PriceSchedule? {
        if let schedule = schedules[model] { return schedule }
        if let slash = model.lastIndex(of: "/") { return schedules[String(model[model.index(after: slash)...])] }
        return nil
    }

    /// A small catalog of common models shipped with Switchyard, as listed on 2026-11-01.
    /// Prices move monthly: import a current file with `switchyard prices import`.
    public static let shippedDate = "2026-11-01"
    public static let shipped: [ModelPrice] = {
        let rows: [(String, String, String, String?, String?)] = [
            // model, input, output, cached input, cache write ($ per million tokens)
            ("gpt-4o", "2.50", "10.00", "1.25", nil),
            ("gpt-4o-mini", "0.15", "0.60", "0.075", nil),
            ("gpt-4.1", "2.00", "8.00", "0.50", nil),
            ("gpt-4.1-mini", "0.40", "1.60", "0.10", nil),
            ("o4-mini", "1.10", "4.40", "0.275", nil),
            ("text-embedding-3-small", "0.02", "0", nil, nil),
            ("claude-sonnet-4-5", "3.00", "15.00", "0.30", "3.75"),
            ("claude-haiku-4-5", "1.00", "5.00", "0.10", "1.25"),
            ("claude-opus-4-1", "15.00", "75.00", "1.50", "18.75"),
            ("gemini-2.5-pro", "1.25", "10.00", "0.31", nil),
            ("gemini-2.5-flash", "0.30", "2.50", "0.075", nil),
            ("deepseek-chat", "0.27", "1.10", "0.07", nil),
            ("glm-4.6", "0.60", "2.20", "0.11", nil),
        ]
        return rows.map { model, input, output, cached, cacheWrite in
            ModelPrice(
                model: model, effectiveFrom: UnixMicros(0),
                prices: TokenPrices(
                    inputPerMillion: Decimal(string: input)!, outputPerMillion: Decimal(string: output)!,
                    cachedInputPerMillion: cached.flatMap { Decimal(string: $0) },
                    cacheWritePerMillion: cacheWrite.flatMap { Decimal(string: $0) }),
                source: "default-\(shippedDate)")
        }
    }()
}

/// Reads LiteLLM's `model_prices_and_context_window.json`: per-token costs, context windows and
/// capabilities by model. Numbers are read from their literal text, never through `Double`.
public enum LiteLLMPriceFile {
    public struct Result: Sendable {
        public var mapped: [ModelPrice]
        /// Model and why it was not imported.
        public var skipped: [(model: String, reason: String)]
    }

    static let priceModes: Set<String> = ["chat", "completion", "responses", "embedding"]

    public static func parse(_ bytes: [UInt8], effectiveFrom: UnixMicros, source: String) throws -> Result {
        let root = try JSONValue.parse(bytes, maxDepth: 16)
        guard case .object(let models) = root else { throw LiteLLMError("the file is not a JSON object of models") }
        var result = Result(mapped: [], skipped: [])
        for (model, value) in models {
            guard model != "sample_spec" else { continue }
            guard case .object(let fields) = value else {
                result.skipped.append((model, "not an object"))
                continue
            }
            if let mode = fields["mode"]?.stringValue, !priceModes.contains(mode) {
                result.skipped.append((model, "mode '\(mode)' is not priced per token"))
                continue
            }
            func perMillion(_ key: String) -> Decimal?? {
                guard let field = fields[key] else { return .some(nil) }
                guard case .number(let text) = field,
                    let perToken = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")),
                    perToken >= 0
                else { return nil }
                return .some(perToken * 1_000_000)
            }
            guard let input = perMillion("input_cost_per_token"), let output = perMillion("output_cost_per_token"),
                let cached = perMillion("cache_read_input_token_cost"),
                let cacheWrite = perMillion("cache_creation_input_token_cost"),
                let reasoning = perMillion("output_cost_per_reasoning_token")
            else {
                result.skipped.append((model, "a cost is not a non-negative number"))
                continue
            }
            guard let input else {
                result.skipped.append((model, "no input_cost_per_token"))
                continue
            }
            let currency = "USD"
            result.mapped.append(
                ModelPrice(
                    model: model, effectiveFrom: effectiveFrom,
                    prices: TokenPrices(
                        inputPerMillion: input, outputPerMillion: output ?? 0, cachedInputPerMillion: cached,
                        cacheWritePerMillion: cacheWrite, reasoningPerMillion: reasoning, currency: currency),
                    contextWindow: fields["max_input_tokens"]?.intValue ?? fields["max_tokens"]?.intValue, source: source))
        }
        return result
    }
}

public struct LiteLLMError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
