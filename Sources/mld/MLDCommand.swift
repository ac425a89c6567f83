import ArgumentParser
import Dispatch
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
            BoxCommand.self,
            BenchCommand.self,
            LammpsCommand.self,
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
            CP2KReader.warningHandler = { FileHandle.standardError.write(Data("mld: warning: \($0)\n".utf8)) }
            var command = try MLDCommand.parseAsRoot()
            try command.run()
        } catch {
            guard let (line, status) = MLDCommand.errorReport(for: error) else {
                MLDCommand.exit(withError: error)       // --help, --version: their text, exit 0
            }
            FileHandle.standardError.write(Data("mld: error: \(line)\n".utf8))
            Foundation.exit(status)
        }
    }
}

extension MLDCommand {
    /// The one line `mld` prints after `mld: error: ` for `error`, and its exit status: 1 for
    /// every error, a malformed command line included (bad input like any other); nil for
    /// `--help` and `--version`, which print their text and exit 0. Control characters of the
    /// message (a CR or NUL echoed from an argument) are written as `\u{...}` escapes.
    static func errorReport(for error: Error) -> (line: String, status: Int32)? {
        let message: String
        if let e = error as? MLDError {
            message = e.description
        } else {
            if exitCode(for: error) == .success { return nil }
            message = self.message(for: error).split(whereSeparator: \.isNewline)
                .first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init) ?? "\(error)"
        }
        var line = ""
        for u in message.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7f || u.value == 0xfeff {
                line += "\\u{\(String(u.value, radix: 16))}"
            } else {
                line.unicodeScalars.append(u)
            }
        }
        return (line.isEmpty ? "\(type(of: error))" : line, 1)
    }
}

/// Prints an Encodable value as pretty, key-sorted JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try jsonData(value), as: UTF8.self))
}

/// Pretty, key-sorted JSON; a number JSON cannot hold (inf, nan) is one `MLDError` line
/// naming it, never an EncodingError.
func jsonData<T: Encodable>(_ value: T) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data: Data
    do { data = try encoder.encode(value) } catch EncodingError.invalidValue(let bad, let context) {
        // JSON has no infinities or NaNs: say which number, in one line.
        let key = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        throw MLDError.numerical("cannot write JSON: \(key.hasPrefix(".") ? String(key.dropFirst()) : key) is \(bad), not a finite number")
    }
    return data
}

/// Signal sources that stay alive for the whole process.
nonisolated(unsafe) private var cleanupSignalSources: [DispatchSourceSignal] = []

/// On SIGINT or SIGTERM: remove the temporary files and directories being written
/// (`TemporaryPaths`), say so in one line, and exit 130 or 143. For commands that write their
/// output under a temporary name (compare, box, fit, bench); `mld run` has its own handlers.
func removeTemporaryFilesOnSignals() {
    guard cleanupSignalSources.isEmpty else { return }
    cleanupSignalSources = [(SIGINT, "SIGINT", Int32(130)), (SIGTERM, "SIGTERM", Int32(143))].map { sig, name, code in
        signal(sig, SIG_IGN)
        let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        src.setEventHandler {
            TemporaryPaths.removeAll()
            FileHandle.standardError.write(Data("mld: stopped by \(name); temporary files removed\n".utf8))
            _exit(code)
        }
        src.resume()
        return src
    }
}
