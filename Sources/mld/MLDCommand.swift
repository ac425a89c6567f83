import ArgumentParser
import Foundation
import MLD

/// The `mld` command: a thin front over the MLD library.
struct MLDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mld",
        abstract: "Molecular learning dynamics: infer per-species losses from CP2K forces and simulate with them.",
        subcommands: [
            InfoCommand.self,
            DevicesCommand.self,
            RunCommand.self,
            FitCommand.self,
            EvalCommand.self,
            CompareCommand.self,
        ])
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as one JSON object.")
    var json = false
}

@main
enum Main {
    static func main() {
        do {
            var command = try MLDCommand.parseAsRoot()
            try command.run()
        } catch let error as MLDError {
            FileHandle.standardError.write(Data("mld: error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            MLDCommand.exit(withError: error)
        }
    }
}

/// Prints an Encodable value as pretty, key-sorted JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}
