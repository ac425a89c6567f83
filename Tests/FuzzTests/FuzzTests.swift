import Foundation
import Testing
@testable import MLD

/// The mutation fuzzer over every reader and the command line (see `FuzzHarness`): every input
/// must end in a result or one clear line, never a crash, a hang over 10 s or a non-finite number
/// in JSON output.
///
/// `make test` runs `FuzzTests.fastRun`: 10,000 inputs in all. `make fuzz` sets
/// `MLD_FUZZ_INPUTS` (1,000,000) and `MLD_FUZZ_SEED` and runs `FuzzTests.longRun`, which prints
/// its count, hangs, findings and time. An input is replayed by its target, index and run seed.
@Suite(.serialized) struct FuzzTests {
    /// Inputs of the fast run, in all.
    static let fastInputs = 10_000

    /// Every target, built once.
    static func targets() throws -> [FuzzTarget] { try allTargets.get() }

    /// The targets a run fuzzes: all, or those named in `MLD_FUZZ_TARGETS` (comma-separated).
    static func selectedTargets() throws -> [FuzzTarget] {
        let all = try targets()
        guard let names = ProcessInfo.processInfo.environment["MLD_FUZZ_TARGETS"]?.split(separator: ",").map(String.init) else { return all }
        let chosen = all.filter { names.contains($0.name) }
        if chosen.count != names.count {
            throw FuzzFinding(description: "MLD_FUZZ_TARGETS names an unknown target; the targets are \(all.map(\.name).joined(separator: ", "))")
        }
        return chosen
    }

    static let allTargets: Result<[FuzzTarget], Error> = Result {
        try ReaderTargets.cp2k() + [try ReaderTargets.extendedXYZ(), try ReaderTargets.model()]
            + ReaderTargets.checkpoints() + ReaderTargets.runDirectory()
            + [ReaderTargets.fitScan(), CommandLineTarget.target()]
    }

    /// Runs `total` inputs spread evenly over the targets; returns the report.
    static func fuzz(total: Int, seed: UInt64, progress: Bool = false) throws -> FuzzReport {
        let harness = try FuzzHarness(seed: seed)
        let targets = try selectedTargets()
        var report = FuzzReport()
        let started = FuzzHarness.now()
        // Rounds of 1,000 inputs per target, so a long run's progress covers every target.
        let perTarget = total / targets.count, round = 1000
        var done = 0
        while done < perTarget {
            let n = min(round, perTarget - done)
            for t in targets { harness.run(t, count: n, from: done, into: &report) }
            done += n
            if progress {
                report.seconds = FuzzHarness.now() - started
                FileHandle.standardError.write(Data("mld fuzz: \(report)\n".utf8))
            }
        }
        report.seconds = FuzzHarness.now() - started
        return report
    }

    @Test func fastRun() throws {
        let report = try Self.fuzz(total: Self.fastInputs, seed: 20261201)
        print("fuzz fast run: \(report)")
        #expect(report.inputs >= Self.fastInputs - 20)
        #expect(report.hangs == 0)
        #expect(report.findings.isEmpty, "\(report.findings.prefix(20).joined(separator: "\n"))")
        // The mutations reach past the first check: some inputs are read, some refused.
        #expect(report.results > 0 && report.refusals > 0)
    }

    /// `make fuzz`: MLD_FUZZ_INPUTS inputs (skipped without it).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MLD_FUZZ_INPUTS"] != nil))
    func longRun() throws {
        let env = ProcessInfo.processInfo.environment
        guard let total = env["MLD_FUZZ_INPUTS"].flatMap(Int.init), total > 0 else {
            Issue.record("MLD_FUZZ_INPUTS must be a positive integer")
            return
        }
        let seed = env["MLD_FUZZ_SEED"].flatMap(UInt64.init) ?? 1
        let report = try Self.fuzz(total: total, seed: seed, progress: true)
        print("fuzz long run (seed \(seed)): \(report)")
        #expect(report.hangs == 0)
        #expect(report.findings.isEmpty, "\(report.findings.prefix(50).joined(separator: "\n"))")
    }
}
