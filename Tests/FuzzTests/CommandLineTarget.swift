import ArgumentParser
import Foundation
@testable import MLD
@testable import mld

/// The command line: argument vectors (one argument per line of the input, so that the mutator's
/// duplicated, deleted and swapped lines are duplicated, deleted and swapped arguments) parsed by
/// swift-argument-parser as `mld` parses them (`validate()` included), then the option checks
/// each command does before any work. Nothing is run: no file is read or written.
enum CommandLineTarget {
    /// Valid command lines, as the README writes them.
    static let commandLines: [[String]] = [
        ["info", "--data", "Data/cp2k-water64-xtb-300K", "--json"],
        ["info", "--data", "D", "--cell", "12.4,12.4,12.4"],
        ["devices", "--json"],
        ["fit", "--data", "D", "--out", "model.json"],
        ["fit", "--data", "D", "--train-data", "E", "--agents", "conservative", "--angles", "sums", "--out", "m.json"],
        ["fit", "--data", "D", "--angles", "labelled", "--labelled-angles", "H1-H2,O1-O2,O1-H1", "--out", "m.json"],
        ["fit", "--data", "D", "--invariants", "radial", "--cutoff", "6", "--basis", "gaussian:16", "--out", "m.json"],
        ["fit", "--data", "D", "--basis", "inverse-power:1..6", "--invariants", "radial", "--out", "m.json"],
        ["fit", "--data", "D", "--nearest", "O:6,H:8", "--train", "0..720:3", "--test", "720..900", "--ridge", "1e-6", "--out", "m.json"],
        ["fit", "--data", "D", "--angles", "none", "--scan", "neighbours=1:12", "--scan-out", "scan.csv"],
        ["fit", "--data", "D", "--scan", "cutoff=3:6.5:0.5", "--angular-eta", "0.2,0.5", "--angular-zeta", "1,4", "--angular-cutoff", "4"],
        ["fit", "--data", "D", "--scan", "form=full,diagonal", "--form", "diagonal", "--out", "m.json"],
        ["eval", "--model", "m.json", "--data", "D", "--frames", "720..900", "--json"],
        ["eval", "--model", "m.json", "--data", "D", "--backend", "opencl", "--device", "0", "--precision", "double"],
        ["run", "--model", "m.json", "--start", "D", "--frame", "-1", "--steps", "2000", "--every", "2", "--out", "R"],
        ["run", "--model", "m.json", "--start", "s.xyz", "--dt", "0.5", "--temperature", "300", "--thermostat", "nose-hoover",
         "--tau", "100", "--chain", "3", "--no-massive", "--seed", "7", "--backend", "cpu", "--out", "R", "--force"],
        ["run", "--model", "m.json", "--start", "D", "--thermostat", "langevin", "--tau", "50", "--out", "R", "--keep-com", "--quiet"],
        ["run", "--resume", "R", "--steps", "100"],
        ["run", "--model", "m.json", "--start", "D", "--out", "R", "--trajectory-format", "both", "--every", "5"],
        ["run", "--resume", "R", "--trajectory-format", "netcdf"],
        ["run", "--model", "m.json", "--start", "D", "--out", "R", "--extrapolation", "stop", "--json"],
        ["compare", "--reference", "D", "--run", "R", "--out", "report", "--scan", "scan.csv"],
        ["compare", "--reference", "D", "--run", "R", "--out", "report", "--atoms", "1,2,4,5", "--seed", "3",
         "--msd-window", "100,400", "--reference-time", "0,449.5", "--run-time", "0,1000"],
        ["box", "--from", "D", "--frame", "0", "--replicate", "2x2x2", "--out", "box.xyz"],
        ["box", "--molecules", "216", "--density", "0.997", "--temperature", "300", "--seed", "2", "--bond", "0.9572",
         "--angle", "104.52", "--replicate", "3", "--out", "box.xyz", "--force"],
        ["bench", "--model", "m.json", "--backend", "all", "--atoms", "192,1536,12288", "--cp2k", "D", "--json"],
        ["bench", "--model", "m.json", "--atoms", "192", "--steps", "10", "--repeats", "3", "--tau", "100", "--out", "b.json"],
        ["--help"], ["run", "--help"], ["--version"],
    ]

    static func target() -> FuzzTarget {
        FuzzTarget(name: "command-line", seeds: commandLines.map { Array($0.joined(separator: "\n").utf8) },
                   consume: { input, _ in
                       let args = input.isEmpty ? [] : String(decoding: input, as: UTF8.self)
                           .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                       try check(args)
                   },
                   errorLine: { MLDCommand.errorReport(for: $0)?.line ?? "(help or version: exit 0)" })
    }

    /// Parses `args` and does the checks that come before any work.
    static func check(_ args: [String]) throws {
        let command = try MLDCommand.parseAsRoot(args)
        switch command {
        case let c as FitCommand:
            _ = try c.settings()
            if let s = c.scan { _ = try FitScan.parse(s) }
        case let c as BoxCommand:
            try c.check()
        case let c as BenchCommand:
            _ = try c.parseAtoms()
        case let c as EvalCommand:
            if let f = c.frames { _ = try FrameRange.parse(f) }
        default:
            break
        }
    }
}
