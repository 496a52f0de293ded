import ArgumentParser
import SwitchyardConfig

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the configuration file.",
        subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file and print what it declares.",
            discussion: """
                Exits non-zero with the file, line and reason of the first problem.

                Example:
                  switchyard config check --config switchyard.yaml
                """)

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let configuration = try options.load()
            print("ok: \(configuration.sourcePath ?? "built-in defaults")")
            print("  listen      \(configuration.server.host):\(configuration.server.port)")
            print("  storage     \(configuration.storage.url.replacingPassword())")
            print("  providers   \(configuration.providers.map(\.name).joined(separator: ", "))")
            print("  deployments \(configuration.deployments.map(\.name).joined(separator: ", "))")
            print(
                "  routes      \(configuration.routes.map { "\($0.name) (\($0.strategy.rawValue)) → \($0.targetNames.joined(separator: ", "))" }.joined(separator: "; "))"
            )
            print("  tenants     \(configuration.tenants.map(\.name).joined(separator: ", "))")
            if !configuration.policies.isEmpty {
                print("  policies    \(configuration.policies.map { "\($0.name) (\($0.scope))" }.joined(separator: ", "))")
            }
            if !configuration.limits.isEmpty {
                print("  limits      \(configuration.limits.map(\.scope.description).joined(separator: ", "))")
            }
            if !configuration.budgets.isEmpty {
                print(
                    "  budgets     \(configuration.budgets.map { "\($0.name) (\($0.scope), \($0.limit.decimalString) \($0.limit.currency))" }.joined(separator: ", "))"
                )
            }
        }
    }
}

extension String {
    fileprivate func replacingPassword() -> String {
        guard let scheme = range(of: "://"), let at = lastIndex(of: "@"),
            let colon = self[scheme.upperBound..<at].firstIndex(of: ":")
        else { return self }
        var masked = self
        masked.replaceSubrange(index(after: colon)..<at, with: "***")
        return masked
    }
}
