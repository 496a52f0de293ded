import ArgumentParser
import Foundation
import Storage
import SwitchyardConfig
import SwitchyardCore

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the configuration file.",
        subcommands: [Check.self, Plan.self, Apply.self])

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show how live governance state differs from the file (tenants, policies, limits, budgets).",
            discussion: """
                Live state is what the running gateways enforce: the file as imported when the store was new, plus every
                change made since through the admin API. '+' is in the file only, '-' live only, '~' different (field by
                field, live -> file). Nothing is changed.

                Examples:
                  switchyard config plan --config switchyard.yaml
                  switchyard config plan --detailed-exitcode   # exit 2 when there is drift (for CI)
                """)

        @OptionGroup var options: ConfigOptions
        @Flag(help: "Exit 2 when live state differs from the file, 0 when it matches.") var detailedExitcode = false

        func run() async throws {
            let (configuration, store) = try await options.openStore()
            let live = try await store.governanceState()
            await store.close()
            let plan = GovernancePlan(live: live.records, desired: GovernanceDeclaration(configuration).records)
            print(plan.rendered, terminator: "")
            if detailedExitcode && !plan.isEmpty { throw ExitCode(2) }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make live governance state match the file, auditing each change.",
            discussion: """
                Prints the plan, then writes it in one transaction with one audit entry per object. Running gateways put
                it in force within a second. Fails without changing anything when live state changed meanwhile.

                Example:
                  switchyard config apply --config switchyard.yaml
                """)

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let (configuration, store) = try await options.openStore(auditing: true)
            do {
                let live = try await store.governanceState()
                let plan = GovernancePlan(live: live.records, desired: GovernanceDeclaration(configuration).records)
                print(plan.rendered, terminator: "")
                if !plan.isEmpty || live.revision == 0 {
                    let revision = try await store.writeGovernance(
                        plan.writes, audit: plan.changes.map { $0.auditEntry(by: "cli") }, by: "cli",
                        expectedRevision: live.revision)
                    print("Applied \(plan.changes.count) change(s): live governance state is at revision \(revision).")
                }
            } catch let conflict as GovernanceConflict {
                await store.close()
                throw CLIError("nothing applied: \(conflict)")
            } catch {
                await store.close()
                throw error
            }
            await store.close()
        }
    }

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
            print("  storage     \(StorageURL(configuration.storage.url)?.description ?? configuration.storage.url)")
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
