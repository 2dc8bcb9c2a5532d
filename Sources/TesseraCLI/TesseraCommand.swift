import ArgumentParser
import Tessera

/// `tessera [serve|migrate|create-user|keys rotate|balances verify]`; every subcommand reads the same settings.
@main
struct TesseraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Authentication and user management server.",
        subcommands: [Serve.self, Migrate.self, CreateUser.self, ImportDjango.self, Keys.self, Balances.self],
        defaultSubcommand: Serve.self
    )
}
