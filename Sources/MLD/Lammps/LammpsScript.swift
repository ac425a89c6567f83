import Foundation

/// A LAMMPS input script as mld feeds it to LAMMPS: one command at a time, so that mld can
/// attach its force callback once `fix mld ... external pf/callback` exists and check it before
/// every run.
///
/// Lines ending in `&` continue on the next line (LAMMPS's rule); everything else (comments,
/// variable substitution, quoting) LAMMPS does itself. Scripts that loop with `jump`/`label`
/// or `next` cannot be fed this way and are refused.
public struct LammpsScript: Sendable {
    /// One command and the line (1-based) it starts on.
    public struct Command: Sendable, Equatable {
        public var line: Int
        public var text: String
        /// The first word (the command's name), "" for a blank or comment line.
        public var name: String {
            let t = text.drop { $0 == " " || $0 == "\t" }
            if t.first == "#" { return "" }
            return String(t.prefix { $0 != " " && $0 != "\t" && $0 != "#" })
        }
        /// The words of the command before any comment.
        public var words: [String] {
            let body = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return body.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
    }

    /// The fix ID the script must give mld's `fix external`.
    public static let fixID = "mld"
    /// The fix line mld expects (any group).
    public static let fixExample = "fix mld all external pf/callback 1 1"
    /// Commands after which forces are evaluated, so the callback must be attached first.
    public static let runCommands: Set<String> = ["run", "minimize", "rerun"]

    public let path: String
    public let commands: [Command]

    /// Reads and splits the script.
    /// - Throws: `MLDError.input` naming the file and line of a loop command or an unfinished
    ///   continuation.
    public init(path: String) throws {
        let bytes = try TextFile.read(path)
        try self.init(text: String(decoding: bytes, as: UTF8.self), path: path)
    }

    public init(text: String, path: String) throws {
        self.path = path
        var out: [Command] = []
        var pending: Command?
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let continues = trimmed.hasSuffix("&")
            let part = continues ? String(trimmed.dropLast()) : line
            if var p = pending {
                p.text += " " + part
                pending = continues ? p : nil
                if !continues { out.append(p) }
            } else if continues {
                pending = Command(line: number, text: part)
            } else {
                out.append(Command(line: number, text: part))
            }
        }
        if let p = pending {
            throw MLDError.input(file: path, line: p.line, problem: "the command continues (&) past the end of the file")
        }
        for c in out where ["jump", "label", "next"].contains(c.name) {
            throw MLDError.input(file: path, line: c.line, problem: "`\(c.name)` is not supported: mld lammps feeds the script one command at a time, so it cannot loop")
        }
        commands = out
    }

    /// Checks a `fix mld ...` command: style external, mode pf/callback, called and applied
    /// every step. Returns nil when it is fine, else the problem.
    public static func fixProblem(_ c: Command) -> String? {
        let w = c.words
        guard w.count >= 2, w[0] == "fix", w[1] == fixID else { return nil }
        guard w.count == 7, w[3] == "external", w[4] == "pf/callback", w[5] == "1", w[6] == "1" else {
            return "mld's forces need `\(fixExample)` (any group), not `\(w.joined(separator: " "))`"
        }
        return nil
    }
}
