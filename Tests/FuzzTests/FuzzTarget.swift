import Foundation
import MLD
@testable import mld

/// One reader under fuzzing: seed inputs (valid files or argument vectors, as bytes) and the code
/// that consumes one input. `consume` returns normally for a result and throws for a refusal;
/// the harness judges what it threw (`FuzzHarness.problem(with:)`).
struct FuzzTarget {
    /// Short name, used in reports and in the names of saved inputs.
    var name: String
    /// Valid inputs that mutations start from.
    var seeds: [[UInt8]]
    /// Consumes one input. `directory` is a fresh scratch directory for files.
    var consume: (_ input: [UInt8], _ directory: String) throws -> Void
    /// The one line a thrown error would print (nil: not an error mld reports in one line).
    var errorLine: (Error) -> String? = FuzzTarget.mldErrorLine

    /// The line `mld` prints for an `MLDError` (`MLDCommand.errorReport`); anything else is not
    /// a clear error.
    static func mldErrorLine(_ error: Error) -> String? {
        guard let e = error as? MLDError else { return nil }
        return MLDCommand.errorReport(for: e)?.line
    }
}

/// What a fuzzing run found.
struct FuzzReport: CustomStringConvertible {
    var inputs = 0
    /// Inputs that ended in a result, and in a clear one-line error.
    var results = 0, refusals = 0
    /// Inputs that took longer than the hang limit (the run stops at the first).
    var hangs = 0
    /// Inputs whose error was not one clear line, or whose output held a non-finite number:
    /// a description of each (target, seed, what).
    var findings: [String] = []
    /// The slowest input, in s, and its target.
    var slowest = 0.0, slowestTarget = ""
    var seconds = 0.0

    var description: String {
        String(format: "%d inputs (%d results, %d refusals), crashes 0, hangs %d, findings %d, slowest input %.3f s (%@), %.1f s",
               inputs, results, refusals, hangs, findings.count, slowest, slowestTarget, seconds)
    }
}

/// Something wrong with a result (not a refusal): a non-finite number in JSON output, say.
struct FuzzFinding: Error, CustomStringConvertible {
    var description: String
}

extension FuzzTarget {
    /// Refuses (as a finding) JSON text that holds a non-finite number.
    static func checkFiniteJSON(_ data: Data, _ what: String) throws {
        let text = String(decoding: data, as: UTF8.self).lowercased()
        for token in ["nan", "inf"] {
            var s = text[...]
            while let r = s.range(of: token) {
                // Only outside strings: a bare token after ':' or ',' or '[' (JSONEncoder never
                // writes one; a custom encoding could).
                let before = text[..<r.lowerBound].last { !$0.isWhitespace }
                if before == ":" || before == "," || before == "[" {
                    throw FuzzFinding(description: "\(what): JSON output holds a non-finite number")
                }
                s = s[r.upperBound...]
            }
        }
    }
}
