import Foundation
import SwitchyardCore
import Yams

/// Reads a what-if scenario file for `switchyard simulate`:
///
/// ```yaml
/// deployments:            # hypothetical deployments traffic can move to
///   - name: cheap
///     provider: newco
///     model: cheap-1
///     price: {input_per_mtok: 1, output_per_mtok: 1}
/// prices:                 # other prices for existing deployments or models
///   gpt-4o-mini: {input_per_mtok: 0.10, output_per_mtok: 0.40}
/// moves:
///   - {route: chat, to: cheap, share: 0.5}
/// discounts:
///   anthropic: 0.1
/// ```
public enum ScenarioLoader {
    public static func load(path: String) throws -> Scenario {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(
                file: path, line: nil, column: nil, path: "", reason: "cannot read file: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> Scenario {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, line: error.line, column: nil, path: "", reason: "invalid YAML: \(error.reason)")
        }
        guard let root else { return Scenario() }
        let reader = NodeReader(file: file)
        let top = try reader.mapping(root, "", allowed: ["deployments", "prices", "moves", "discounts"])
        var scenario = Scenario()
        scenario.deployments = try reader.unique(top["deployments"], "deployments") { node, path in
            let fields = try reader.mapping(node, path, allowed: ["name", "provider", "model", "price", "prices"])
            let prices: PriceSchedule
            if let price = fields["price"] {
                prices = PriceSchedule(try reader.price(price, path + ".price"))
            } else if let list = fields["prices"] {
                prices = try reader.priceSchedule(list, path + ".prices")
            } else {
                throw reader.error(node, path + ".price", "is required")
            }
            return Scenario.ScenarioDeployment(
                name: try reader.name(fields["name"], path + ".name", parent: node),
                provider: try reader.requiredString(fields["provider"], path + ".provider", parent: node),
                model: try reader.requiredString(fields["model"], path + ".model", parent: node), prices: prices)
        }
        if let node = top["prices"] {
            guard case .mapping(let mapping) = node else { throw reader.error(node, "prices", "expected a mapping") }
            for (key, value) in mapping {
                guard let name = key.string else { throw reader.error(key, "prices", "keys must be strings") }
                scenario.prices[name] =
                    if case .sequence = value {
                        try reader.priceSchedule(value, "prices.\(name)")
                    } else {
                        PriceSchedule(try reader.price(value, "prices.\(name)"))
                    }
            }
        }
        for (index, node) in try reader.sequence(top["moves"], "moves").enumerated() {
            let path = "moves[\(index)]"
            let fields = try reader.mapping(node, path, allowed: ["route", "from", "to", "share"])
            let share = try reader.decimal(fields["share"], path + ".share") ?? 1
            guard share <= 1 else { throw reader.error(fields["share"], path + ".share", "expected a fraction up to 1") }
            scenario.moves.append(
                Scenario.Move(
                    route: try reader.requiredString(fields["route"], path + ".route", parent: node),
                    from: try reader.string(fields["from"], path + ".from", required: false),
                    to: try reader.requiredString(fields["to"], path + ".to", parent: node), share: share))
        }
        if let node = top["discounts"] {
            guard case .mapping(let mapping) = node else { throw reader.error(node, "discounts", "expected a mapping") }
            for (key, value) in mapping {
                guard let provider = key.string else { throw reader.error(key, "discounts", "keys must be strings") }
                guard let rate = try reader.decimal(value, "discounts.\(provider)"), rate < 1 else {
                    throw reader.error(value, "discounts.\(provider)", "expected a fraction below 1")
                }
                scenario.discounts[provider] = rate
            }
        }
        return scenario
    }
}
