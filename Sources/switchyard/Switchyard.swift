import ArgumentParser

@main
struct Switchyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "A self-hosted AI control plane: one OpenAI-compatible endpoint in front of every model provider.",
        discussion: """
            Start the gateway with 'switchyard serve', issue keys with 'switchyard keys create', and see what each \
            tenant used with 'switchyard report usage'. Every verb reads the same configuration file \
            (--config, default ./switchyard.yaml when present) and works on the same store as the server.
            """,
        subcommands: [
            Serve.self, Keys.self, Report.self, Simulate.self, Export.self, Prices.self, LedgerCommand.self, Config.self,
            Audit.self, Kill.self, AdminKeys.self, Runs.self, IncidentsCommand.self, ProbesCommand.self,
        ]
    )
}
