import Foundation
import SwitchyardCore
import Yams

extension NodeReader {
    func probes(_ node: Node, deployments: [Deployment]) throws -> SwitchyardConfiguration.Probes {
        let path = "probes"
        let entries = try mapping(
            node, path,
            allowed: [
                "enabled", "interval_seconds", "budget_per_day", "currency", "deployments", "lengths", "depths", "samples",
                "max_output_tokens", "drift",
            ])
        var probes = SwitchyardConfiguration.Probes()
        probes.enabled = try bool(entries["enabled"], path + ".enabled") ?? true
        probes.interval =
            try duration(entries["interval_seconds"], path + ".interval_seconds", unit: .seconds(1), range: 1...604_800)
            ?? probes.interval
        let currency = try currency(entries["currency"], path + ".currency")
        if let amount = try decimal(entries["budget_per_day"], path + ".budget_per_day") {
            probes.budgetPerDay = try money(amount, currency: currency, entries["budget_per_day"], path + ".budget_per_day")
        } else {
            probes.budgetPerDay.currency = currency
        }
        if let list = entries["deployments"] {
            let known = Set(deployments.map(\.name))
            probes.deployments = try sequence(list, path + ".deployments").enumerated().map { index, item in
                let itemPath = "\(path).deployments[\(index)]"
                let name = try string(item, itemPath)!
                guard known.contains(name) else { throw error(item, itemPath, "unknown deployment '\(name)'") }
                return name
            }
        }
        if let list = entries["lengths"] {
            let lengths = try sequence(list, path + ".lengths").enumerated().map { index, item in
                try integer(item, "\(path).lengths[\(index)]", range: 32...10_000_000)!
            }
            guard !lengths.isEmpty, lengths.count <= 12 else {
                throw error(list, path + ".lengths", "give 1 to 12 lengths")
            }
            probes.lengths = Array(Set(lengths)).sorted()
        }
        if let list = entries["depths"] {
            let depths = try sequence(list, path + ".depths").enumerated().map { index, item in
                try fraction(item, "\(path).depths[\(index)]")!
            }
            guard !depths.isEmpty, depths.count <= 10 else { throw error(list, path + ".depths", "give 1 to 10 depths") }
            probes.depths = depths
        }
        probes.samples = try integer(entries["samples"], path + ".samples", range: 1...20) ?? probes.samples
        probes.maxOutputTokens =
            try integer(entries["max_output_tokens"], path + ".max_output_tokens", range: 8...4096) ?? probes.maxOutputTokens
        if let node = entries["drift"] {
            let drift = try mapping(
                node, path + ".drift", allowed: ["min_baseline", "sensitivity", "quality_drop", "length_share"])
            probes.driftMinimumBaseline =
                try integer(drift["min_baseline"], path + ".drift.min_baseline", range: 1...100) ?? probes.driftMinimumBaseline
            if let value = try decimal(drift["sensitivity"], path + ".drift.sensitivity") {
                let sensitivity = Double(truncating: value as NSDecimalNumber)
                guard (1...20).contains(sensitivity) else {
                    throw error(drift["sensitivity"], path + ".drift.sensitivity", "must be between 1 and 20")
                }
                probes.driftSensitivity = sensitivity
            }
            probes.driftQualityDrop = try fraction(drift["quality_drop"], path + ".drift.quality_drop") ?? probes.driftQualityDrop
            probes.driftLengthShare = try fraction(drift["length_share"], path + ".drift.length_share") ?? probes.driftLengthShare
        }
        return probes
    }

    /// A route's `min_quality` or `quality-per-cost` reads scores only probes give: every target
    /// must be probed, and priced in the probes' currency (others are never probed), or the floor
    /// would pass it forever as "not yet probed".
    func checkQualityFloors(_ configuration: SwitchyardConfiguration, routes node: Node?) throws {
        let probes = configuration.probes
        for (index, route) in configuration.routes.enumerated()
        where route.minQuality != nil || route.strategy == .qualityPerCost {
            let unprobed = route.targets.map(\.deployment).filter { name in
                let currency = configuration.deployments.first { $0.name == name }?.prices.currency
                return !probes.enabled || !(probes.deployments?.contains(name) ?? true)
                    || currency != probes.budgetPerDay.currency
            }
            guard unprobed.isEmpty else {
                let item = try sequence(node, "routes")[index]
                let what = route.minQuality != nil ? "min_quality" : "strategy quality-per-cost"
                throw error(
                    item, "routes[\(index)]",
                    "\(what) needs canary probes of every target, and \(unprobed.joined(separator: ", ")) is not probed (see probes:; a deployment priced in another currency than probes.currency is not)"
                )
            }
        }
    }
}
