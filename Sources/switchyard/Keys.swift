import ArgumentParser
import Foundation
import Storage
import SwitchyardCore

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue, list and revoke API keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a new API key for a tenant (and optionally one of its agents).",
            discussion: """
                The key is printed once and stored only as a SHA-256 hash: keep it, it cannot be shown again. \
                The tenant must be declared under 'tenants:' in the configuration.

                Examples:
                  switchyard keys create --tenant acme
                  switchyard keys create --tenant acme --agent nightly-triage --expires 30d
                  switchyard keys create --tenant acme --project web --agent checkout-assistant
                  switchyard keys create --tenant acme --expires 2027-01-01
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "Tenant the key belongs to.") var tenant: String
        @Option(help: "Project within the tenant (declared under the tenant's 'projects:').") var project: String?
        @Option(help: "Agent identity within the tenant that uses this key.") var agent: String?
        @Option(help: "Expiry: a date (2027-01-01), a time (2027-01-01T00:00:00Z) or a span from now (30d, 12h).")
        var expires: String?
        @Flag(help: "Print the key and its id as JSON.") var json = false

        func run() async throws {
            let (configuration, store) = try await options.openStore(auditing: true)
            let tenants = try await options.liveTenants(configuration, store: store)
            let known = tenants.map(\.name)
            guard known.contains(tenant) else {
                throw CLIError(
                    "unknown tenant '\(tenant)': declare it under 'tenants:' in the configuration (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
                )
            }
            if let project {
                let projects = tenants.first { $0.name == tenant }?.projects ?? []
                guard projects.contains(project) else {
                    throw CLIError(
                        "tenant '\(tenant)' declares no project '\(project)' (its projects: \(projects.isEmpty ? "none" : projects.joined(separator: ", ")))"
                    )
                }
            }
            let expiresAt = try expires.map { try TimeArgument.parse($0, relativeDirection: 1) }
            if let expiresAt, expiresAt <= .now() { throw ValidationError("--expires is in the past") }
            let (secret, record) = APIKeyFormat.issue(tenant: tenant, project: project, agent: agent, expiresAt: expiresAt)
            try await store.insertKey(record, auditedAs: "cli")
            await store.close()
            if json {
                let object: [String: String?] = [
                    "id": record.id, "key": secret, "tenant": tenant, "project": project, "agent": agent,
                ]
                let data = try JSONSerialization.data(withJSONObject: object.compactMapValues { $0 }, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(secret)
                FileHandle.standardError.write(
                    Data(
                        "key id \(record.id) for tenant \(tenant)\(agent.map { ", agent \($0)" } ?? ""): store it now, it will not be shown again\n"
                            .utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List keys (never their secrets).",
            discussion: """
                Examples:
                  switchyard keys list
                  switchyard keys list --tenant acme --format json
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "Only this tenant's keys.") var tenant: String?
        @Option(help: "table or json.") var format: OutputFormat = .table

        func run() async throws {
            let (_, store) = try await options.openStore()
            let keys = try await store.keys(tenant: tenant)
            await store.close()
            let now = UnixMicros.now()
            let rows = keys.map { key -> [String] in
                let state = key.revokedAt != nil ? "revoked" : (key.isUsable(at: now) ? "active" : "expired")
                return [
                    key.id, key.tenant, key.project ?? "", key.agent ?? "", state, key.createdAt.iso8601,
                    key.expiresAt?.iso8601 ?? "",
                ]
            }
            let header = ["id", "tenant", "project", "agent", "state", "created", "expires"]
            print(OutputFormat.render(format, header: header, rows: rows), terminator: "")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by its id.",
            discussion: """
                A running gateway refuses the key within its key refresh interval (2 seconds).

                Example:
                  switchyard keys revoke 3k9f0c2m7q1z
                """)

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The key id shown by 'keys create' and 'keys list'.") var id: String

        func run() async throws {
            let (_, store) = try await options.openStore(auditing: true)
            let found = try await store.revokeKey(id: id, auditedAs: "cli") != nil
            await store.close()
            guard found else { throw CLIError("no key with id '\(id)'") }
            print("revoked \(id)")
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json

    static func render(_ format: OutputFormat, header: [String], rows: [[String]]) -> String {
        switch format {
        case .table:
            let widths = header.indices.map { column in
                ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
            }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            }
            return line(header.map { $0.uppercased() }) + rows.map(line).joined()
        case .csv:
            func escape(_ cell: String) -> String {
                cell.contains(where: { ",\"\n".contains($0) })
                    ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
            }
            return ([header] + rows).map { $0.map(escape).joined(separator: ",") + "\n" }.joined()
        case .json:
            let objects = rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
            let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .prettyPrinted])) ?? Data()
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }
}
