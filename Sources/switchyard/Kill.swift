import ArgumentParser
import Foundation
import Storage
import SwitchyardCore

struct Kill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Stop an agent, key, project or tenant at once, and let it resume.",
        discussion: """
            A running gateway picks an engaged switch up within a second: new requests are refused (403, \
            code kill_switch) and streams in progress end at their next chunk. Engaging and releasing are audited.
            """,
        subcommands: [Engage.self, Release.self, List.self])

    struct Engage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Engage the kill switch of a scope.",
            discussion: """
                Examples:
                  switchyard kill engage agent:acme/nightly-triage --reason "looping on the same ticket"
                  switchyard kill engage key:3k9f0c2m7q1z --reason "key leaked in a build log"
                """)

        @OptionGroup var options: ConfigOptions
        @Argument(help: "tenant:NAME, project:TENANT/NAME, agent:TENANT/NAME, key:ID or run:TENANT/ID") var scope: String
        @Option(help: "Why (audited).") var reason: String

        func run() async throws {
            let (configuration, store) = try await options.openStore(auditing: true)
            let scope = try Kill.parse(
                scope, tenants: try await options.liveTenants(configuration, store: store).map(\.name))
            let engaged = try await store.engageKillSwitch(
                KillSwitch(scope: scope, reason: reason, engagedBy: "cli", authority: .admin), principal: "cli")
            await store.close()
            print(engaged ? "engaged the kill switch on \(scope)" : "the kill switch on \(scope) was already engaged")
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release the kill switch of a scope.",
            discussion: """
                Example:
                  switchyard kill release agent:acme/nightly-triage
                """)

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The scope, as given to 'kill engage'.") var scope: String

        func run() async throws {
            let (configuration, store) = try await options.openStore(auditing: true)
            let scope = try Kill.parse(
                scope, tenants: try await options.liveTenants(configuration, store: store).map(\.name))
            // Whoever reaches the store directly holds admin authority over every switch.
            let released = try await store.releaseKillSwitch(scope, principal: "cli", authority: .admin)
            await store.close()
            guard released != nil else { throw CLIError("no kill switch is engaged on \(scope)") }
            print("released the kill switch on \(scope)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the engaged kill switches.")

        @OptionGroup var options: ConfigOptions
        @Option(help: "table, csv or json.") var format: OutputFormat = .table

        func run() async throws {
            let (_, store) = try await options.openStore()
            let kills = try await store.killSwitches()
            await store.close()
            let rows = kills.map { [$0.scope.description, $0.engagedBy, $0.authority.rawValue, $0.engagedAt.iso8601, $0.reason] }
            print(
                OutputFormat.render(format, header: ["scope", "engaged_by", "authority", "engaged_at", "reason"], rows: rows),
                terminator: "")
        }
    }

    static func parse(_ text: String, tenants: [String]) throws -> GovernanceScope {
        guard let scope = GovernanceScope(text) else {
            throw ValidationError(
                "'\(text)' is not a scope: use tenant:NAME, project:TENANT/NAME, agent:TENANT/NAME, key:ID or run:TENANT/ID")
        }
        if let tenant = scope.tenant, !tenants.contains(tenant) {
            throw CLIError("no tenant named '\(tenant)' is configured")
        }
        return scope
    }
}
