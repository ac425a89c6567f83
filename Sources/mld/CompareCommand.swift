import ArgumentParser
import Foundation
import MLD

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare a learned run with a CP2K reference: observables, figures and a summary table.",
        discussion: """
        Computes on both trajectories: kinetic energy and temperature, O-H bond lengths, H-O-H \
        angles, g_OO/g_OH/g_HH, the oxygen MSD and diffusion coefficient, the velocity \
        autocorrelation and vibrational spectrum. Writes one CSV per series, summary.json and \
        summary.csv (reference, learned, difference, relative difference), a gnuplot script per \
        figure rendered to SVG and PNG (if gnuplot is installed), and index.html.
        Example: mld compare --reference Data/cp2k-water64-xtb-300K --run out/run --out out/report --scan out/scan.csv
        Noise floor of a 225 fs run: mld compare --reference Data/cp2k-water64-xtb-300K --reference-time 0,224.5 \
          --run Data/cp2k-water64-xtb-300K --run-time 225,449.5 --out out/halves
        """)

    @Option(name: .long, help: "The CP2K reference directory (positions and velocities).")
    var reference: String

    @Option(name: .customLong("run"), help: "The learned run: an `mld run` directory (trajectory.xyz or trajectory.nc, thermo.csv) or another CP2K directory.")
    var learned: String

    @Option(name: .long, help: "The report directory to write: a new or empty directory, or an earlier mld report (its files are replaced).")
    var out: String

    @Flag(name: .long, help: "Write the report into a directory that holds other files too: only the report's own files are replaced, nothing else is touched.")
    var force = false

    @Option(name: .long, help: "The CSV written by `mld fit --scan`, for the force-error figure.")
    var scan: String?

    @Option(name: .long, help: "Hydrogens whose O-H bond is plotted against time: 0-based atom indices, e.g. 1,2,4,5 (default: four chosen at random with --seed).")
    var atoms: String?

    @Option(name: .long, help: "Seed of the random choice of hydrogens.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Lags of the MSD line fit in fs, FROM,TO (default: 20% to 50% of the shorter run, the same for both).")
    var msdWindow: String?

    @Option(name: .long, help: "Use only the reference frames with times FROM,TO in fs (inclusive).")
    var referenceTime: String?

    @Option(name: .long, help: "Use only the learned-run frames with times FROM,TO in fs (inclusive).")
    var runTime: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let atoms, parseAtoms(atoms) == nil {
            throw ValidationError("--atoms needs comma-separated non-negative atom indices, e.g. 1,2,4,5")
        }
        for (name, value) in [("--msd-window", msdWindow), ("--reference-time", referenceTime), ("--run-time", runTime)] {
            if let value, parseWindow(value) == nil {
                throw ValidationError("\(name) needs FROM,TO in fs with 0 <= FROM < TO")
            }
        }
    }

    func parseAtoms(_ s: String) -> [Int]? {
        let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return v.map { $0! }
    }

    func parseWindow(_ s: String) -> ClosedRange<Double>? {
        let v = s.split(separator: ",").compactMap { Double($0) }
        guard v.count == 2, v[0] >= 0, v[1] > v[0] else { return nil }
        return v[0]...v[1]
    }

    func run() throws {
        // Refuse a foreign output directory before any work; remove the half-written report
        // if stopped by a signal.
        try OutputPlace.checkDirectory(out, option: "--out", what: "report", force: force,
                                       isOurs: ComparisonReport.isReport)
        removeTemporaryFilesOnSignals()
        var options = ComparisonOptions()
        options.hydrogens = atoms.flatMap(parseAtoms)
        options.seed = seed
        options.msdFitWindow = msdWindow.flatMap(parseWindow)
        let scanTable = try scan.map { try FitScanTable(path: $0) }
        var referenceTrajectory = try Trajectory(cp2kDirectory: reference)
        var learnedTrajectory = try Trajectory.load(learned)
        if let w = referenceTime.flatMap(parseWindow) { referenceTrajectory = try referenceTrajectory.restricted(to: w) }
        if let w = runTime.flatMap(parseWindow) { learnedTrajectory = try learnedTrajectory.restricted(to: w) }
        let comparison = try Comparison(reference: referenceTrajectory, learned: learnedTrajectory, options: options)
        let report = ComparisonReport(comparison: comparison, scan: scanTable, scanPath: scan)
        let outcome = try report.write(to: out, force: force)
        if !outcome.rendered {
            FileHandle.standardError.write(Data("mld: warning: \(outcome.gnuplot)\n".utf8))
            for f in outcome.failures { FileHandle.standardError.write(Data("mld: warning: \(f)\n".utf8)) }
        }
        if global.json {
            let data = try Data(contentsOf: URL(fileURLWithPath: (outcome.directory as NSString).appendingPathComponent("summary.json")))
            print(String(decoding: data, as: UTF8.self), terminator: "")
            return
        }
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? s + fill : fill + s
        }
        print(pad("quantity", 28, left: true) + pad("reference", 13) + pad("learned", 13) + pad("difference", 13) + pad("relative", 10) + "  unit")
        for s in comparison.scalars {
            func f(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "-" }
            let rel = s.relativeDifference.map { String(format: "%+.2f%%", 100 * $0) } ?? "-"
            print(pad(s.name, 28, left: true) + pad(f(s.reference), 13) + pad(f(s.learned), 13) + pad(f(s.difference), 13) + pad(rel, 10) + "  " + s.unit)
        }
        for n in comparison.notes { print("note: \(n)") }
        if scan == nil { print("note: no --scan CSV given: the rel_RMSE-versus-parameter figure is skipped") }
        print("report: \(outcome.directory)/index.html (\(outcome.files.count) files; \(outcome.gnuplot))")
    }
}
