import ArgumentParser
import Foundation
import MLD

struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit per-species quadratic losses to the forces of a CP2K run.",
        discussion: """
            Frame ranges are half-open: a..b is frames a to b-1 (indices from 0, not step \
            numbers), a..b:s takes every s-th. Default: train on every 3rd frame of the first 80 % \
            of the frames (0..N:3), test on the last 20 %, ridge chosen by validation on 4 contiguous training blocks.
            Example: mld fit --data Data/cp2k-water64-xtb-300K --nearest O:6,H:8 --out model.json
            """)

    @Option(name: .long, help: "A CP2K MD output directory with forces.")
    var data: String

    @Option(name: .customLong("train-data"), help: "A further CP2K run of the same system (same atoms and cell) whose frames, every 3rd, are added to the training frames only; repeatable.")
    var trainData: [String] = []

    @Option(name: .long, help: "Invariant family: nearest or radial.")
    var invariants: InvariantFamily = .nearest

    @Option(name: .long, help: ArgumentHelp("Nearest neighbours per species, e.g. O:6,H:8 (default: O:4,H:4 for selfish agents with the angular sums, the default model; O:6,H:8, the paper's, otherwise).", valueName: "counts"))
    var nearest: String?

    @Option(name: .long, help: "Radial cutoff in Å (radial invariants).")
    var cutoff: Double = 6.0

    @Option(name: .long, help: "Radial basis: gaussian:N or inverse-power:a..b (powers a to b inclusive).")
    var basis: String = "gaussian:16"

    @Option(name: .long, help: ArgumentHelp("Angular invariants after the distances: none, labelled, sums or labelled+sums (default: labelled+sums with nearest distances, sums with radial ones).", valueName: "kind"))
    var angles: AngleChoice?

    @Option(name: .customLong("labelled-angles"), help: "The labelled angles: pairs of neighbours by species and rank, e.g. H1-H2,O1-O2,O1-H1 (the angle at the agent between them).")
    var labelledAngles: String = FitSettings.defaultLabelledAngles.text

    @Option(name: .customLong("angular-cutoff"), help: "Cutoff of the angular sums in Å.")
    var angularCutoff: Double = FitSettings.defaultAngularCutoff

    @Option(name: .customLong("angular-eta"), help: "Radial decays eta of the angular sums in 1/Å², comma-separated.")
    var angularEta: String = FitSettings.defaultAngularEtas.map { String(format: "%g", $0) }.joined(separator: ",")

    @Option(name: .customLong("angular-zeta"), help: "Angular sharpness zeta of the angular sums (>= 1), comma-separated; each with lambda = +1 and -1.")
    var angularZeta: String = FitSettings.defaultAngularZetas.map { String(format: "%g", $0) }.joined(separator: ",")

    @Option(name: .long, help: "Agents: selfish (the paper's: each follows the gradient of its own loss in its own position) or conservative (forces -dU/dq of U = the sum of all losses; all species fitted jointly).")
    var agents: AgentKind = .selfish

    @Option(name: .customLong("energy-weight"), help: ArgumentHelp("Conservative agents: also fit U = the sum of the losses to the CP2K potential energy of every training frame (the .ener file, with a free constant offset), weighting the squared energy errors (eV^2) by W against the squared force errors ((eV/Å)^2); W in Å^-2. Default 0: forces only.", valueName: "W"))
    var energyWeight: Double = 0

    @Option(name: .long, help: "Loss form: full, diagonal or linear.")
    var form: LossForm = .full

    @Option(name: .long, help: "Ridge strength (relative to the unit diagonal of the scaled normal matrix); default: chosen by validation.")
    var ridge: Double?

    @Option(name: .long, help: "Training frames a..b (half-open, optional :stride).")
    var train: String?

    @Option(name: .long, help: "Test frames a..b (half-open).")
    var test: String?

    @Option(name: .long, help: "Scan one setting: neighbours=1:12, neighbours-O=2:8, cutoff=3:6.5:0.5, basis-size=4:24:4, form=full,diagonal,linear, ridge=0,1e-8, transform=distance,inverse.")
    var scan: String?

    @Option(name: .customLong("scan-out"), help: "CSV file of the scan (default: next to --out, else fit-scan-NAME.csv).")
    var scanOut: String?

    @Option(name: .long, help: "The model file to write (JSON; an existing file is replaced only if it is an mld model).")
    var out: String?

    @Flag(name: .long, help: "Replace --out and --scan-out even if they are not mld's own files.")
    var force = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if ridge.map({ !($0 >= 0 && $0.isFinite) }) ?? false { throw ValidationError("--ridge must be a number >= 0") }
        if !(cutoff > 0) { throw ValidationError("--cutoff must be positive") }
        if !(energyWeight >= 0 && energyWeight.isFinite) { throw ValidationError("--energy-weight must be a finite number >= 0") }
        if energyWeight > 0 && agents != .conservative {
            throw ValidationError("--energy-weight needs --agents conservative (selfish agents have no potential energy to fit)")
        }
        if scan == nil && out == nil { throw ValidationError("give --out FILE for the model (or --scan)") }
        if !(angularCutoff > 0 && angularCutoff.isFinite) { throw ValidationError("--angular-cutoff must be a positive number of Å") }
        _ = try angularSums()
        if LabelledAngles.parse(labelledAngles) == nil {
            throw ValidationError("bad --labelled-angles '\(labelledAngles)': expected pairs like H1-H2,O1-H1 (element and rank from 1)")
        }
        if let angles, angles.labelled && invariants != .nearest { throw ValidationError("--angles \(angles.rawValue) needs --invariants nearest (labelled angles use the nearest neighbours)") }
    }

    /// The angular sums the options describe (checked: eta >= 0, zeta >= 1, at most
    /// `AngularSums.maximumFunctions` functions).
    func angularSums() throws -> AngularSums {
        func list(_ s: String, _ name: String) throws -> [Double] {
            let v = s.split(separator: ",").map { Double($0) }
            guard !v.isEmpty, v.allSatisfy({ $0 != nil && $0!.isFinite }) else { throw ValidationError("bad \(name) '\(s)': expected comma-separated numbers") }
            return v.map { $0! }
        }
        let etas = try list(angularEta, "--angular-eta"), zetas = try list(angularZeta, "--angular-zeta")
        if etas.contains(where: { $0 < 0 }) { throw ValidationError("--angular-eta must be >= 0") }
        if zetas.contains(where: { $0 < 1 || $0 > 64 }) { throw ValidationError("--angular-zeta must be in [1, 64]") }
        let n = etas.count * zetas.count * 2
        if n > AngularSums.maximumFunctions { throw ValidationError("--angular-eta and --angular-zeta give \(n) functions (at most \(AngularSums.maximumFunctions))") }
        return .grid(cutoff: angularCutoff, etas: etas, zetas: zetas)
    }

    func settings() throws -> FitSettings {
        var s = FitSettings()
        s.family = invariants
        s.cutoff = cutoff
        s.basis = try BasisChoice.parse(basis)
        s.form = form
        s.agents = agents
        s.energyWeight = energyWeight
        s.ridge = ridge
        let angles = self.angles ?? (invariants == .nearest ? .fitDefault : .sums)
        s.labelledAngles = angles.labelled ? LabelledAngles.parse(labelledAngles) : nil
        s.angularSums = angles.sums ? try angularSums() : nil
        if let nearest {
            s.nearestCounts = try parseNearest(nearest)
        } else if agents == .selfish && s.angularSums != nil {
            s.nearestCounts = FitSettings.defaultNearestCountsWithSums
        }
        if let train { s.train = try FrameRange.parse(train) }
        if let test { s.test = try FrameRange.parse(test) }
        return s
    }

    func run() throws {
        let settings = try settings()
        let scanSpec = try scan.map { try FitScan.parse($0) }
        // Never replace a file mld did not write (unless --force): checked before the fit.
        if let o = out, scanSpec == nil {
            try OutputPlace.checkFile(o, option: "--out", force: force) {
                OutputPlace.isJSONObject($0, keys: ["format", "version"], values: ["format": LearnedModel.format])
            }
        }
        if let scanSpec {
            try OutputPlace.checkFile(scanPath(scanSpec), option: scanOut == nil && out != nil ? "--out" : "--scan-out", force: force,
                                      isOurs: FitCommand.isScanCSV)
        }
        removeTemporaryFilesOnSignals()
        if let o = out, !FileManager.default.isWritableFile(atPath: (o as NSString).deletingLastPathComponent.isEmpty ? "." : (o as NSString).deletingLastPathComponent) {
            throw MLDError.output(file: o, problem: "its directory does not exist or is not writable")
        }
        let run = try CP2KReader.read(directory: data)
        if let scanSpec {
            let path = scanPath(scanSpec)
            if !global.json { print("scan \(scanSpec.name): \(scanSpec.values.count) fits") }
            let rows = try scanSpec.run(run: run, settings: settings) { v, r in
                if !global.json {
                    let cols = zip(r.train, r.test).map { String(format: "%@ train %.4f test %.4f", $0.species, $0.relRMSE, $1.relRMSE) }
                    print(String(format: "  %@=%@  %@  (%.1f s)", scanSpec.name, v, cols.joined(separator: "  "), r.totalSeconds))
                }
            }
            try AtomicFile.write(scanSpec.csv(rows), to: path)
            if global.json {
                try printJSON(ScanSummary(name: scanSpec.name, csv: path, fits: rows.map { ScanSummary.Row(value: $0.value, report: $0.report) }))
            } else {
                print("wrote \(path)")
            }
            return
        }
        let extra = try trainData.map { try CP2KReader.read(directory: $0) }
        let (model, report) = try LossFitter.fit(run: run, settings: settings, extraTraining: extra)
        if global.json { try printJSON(report) } else { printReport(report) }
        if let out {
            try model.write(to: out)
            if !global.json { print("wrote \(out)") }
        }
    }
}

extension FitCommand {
    /// Where a scan's CSV goes: --scan-out, else beside --out, else fit-scan-NAME.csv.
    func scanPath(_ spec: FitScan) -> String {
        scanOut ?? out.map { (($0 as NSString).deletingPathExtension) + "-scan-\(spec.name).csv" }
            ?? "fit-scan-\(spec.name).csv"
    }

    /// Whether `path` is a CSV `mld fit --scan` wrote (header `NAME,train_rel_rmse_El,test_rel_rmse_El,...`).
    static func isScanCSV(_ path: String) -> Bool {
        guard let header = OutputPlace.firstLine(path) else { return false }
        let cols = header.split(separator: ",", omittingEmptySubsequences: false)
        return cols.count >= 3 && cols.count % 2 == 1 && !cols[0].isEmpty
            && cols[1].hasPrefix("train_rel_rmse_") && cols[2].hasPrefix("test_rel_rmse_")
    }
}

struct ScanSummary: Encodable {
    struct Row: Encodable { var value: String; var report: FitReport }
    var name: String
    var csv: String
    var fits: [Row]
}

/// Parses `O:6,H:8`.
func parseNearest(_ s: String) throws -> [String: Int] {
    var out: [String: Int] = [:]
    for part in s.split(separator: ",") {
        let kv = part.split(separator: ":")
        guard kv.count == 2, let n = Int(kv[1]), n >= 0, !kv[0].isEmpty else {
            throw MLDError.usage("bad --nearest '\(s)': expected El:count,... e.g. O:6,H:8")
        }
        guard out[String(kv[0])] == nil else { throw MLDError.usage("bad --nearest '\(s)': \(kv[0]) given twice") }
        out[String(kv[0])] = n
    }
    guard !out.isEmpty else { throw MLDError.usage("bad --nearest '\(s)': expected El:count,... e.g. O:6,H:8") }
    return out
}

func printReport(_ r: FitReport) {
    print("data            \(r.data)")
    print("invariants      \(r.invariants)")
    print("form            \(r.form) (\(r.parameters) parameters per species)")
    print("frames          train \(r.trainFrames)\(r.extraTrainingData.map { " + " + $0 + " (every 3rd)" }.joined()) (\(r.trainFrameCount)), test \(r.testFrames) (\(r.testFrameCount))")
    let ridge = r.train.map { String(format: "%@ %g", $0.species, r.ridge[$0.species] ?? 0) }.joined(separator: ", ")
    print("ridge           \(ridge) (\(r.ridgeChosenByValidation ? "chosen by validation on contiguous training blocks" : "given"))")
    if !r.ridgeTrials.isEmpty {
        print("  validation rel_RMSE per ridge:")
        for t in r.ridgeTrials {
            print(String(format: "    %-8g", t.ridge) + zip(r.train, t.validationRelRMSE).map { String(format: "  %@ %.4f", $0.species, $1) }.joined())
        }
    }
    let cond = r.train.map { e in
        (r.conditionNumber[e.species].map { String(format: "%@ %.2g", e.species, $0) } ?? "\(e.species) singular")
            + " (rank \(r.rank[e.species] ?? 0)/\(r.parameters))"
    }
    print("conditioning    " + cond.joined(separator: ", ") + " (scaled normal matrix + ridge)")
    print("errors          rel_RMSE      RMSE eV/Å   corr x/y/z            out of range")
    for (tr, te) in zip(r.train, r.test) {
        for (name, e) in [("train", tr), ("test", te)] {
            let label = "\(e.species) \(name)".padding(toLength: 12, withPad: " ", startingAt: 0)
            print("  " + label + String(format: "   %.4f        %.4f      %.3f/%.3f/%.3f   %.2f %%",
                         e.relRMSE, e.rmse, e.correlation[0], e.correlation[1], e.correlation[2], 100 * e.outOfRange))
        }
    }
    if !r.sensitivity.isEmpty {
        print("sensitivity     mean |g_a||dphi_a/dq| (eV/Å) and test rel_RMSE rise when the group is dropped (refit)")
        var last = ""
        for row in r.sensitivity {
            if row.species != last { print("  agent \(row.species):"); last = row.species }
            print("    " + row.group.padding(toLength: 14, withPad: " ", startingAt: 0)
                  + String(format: "%8.4f   %+.4f", row.meanForceShare, row.rise))
        }
    }
    if let e = r.energy {
        print(String(format: "energy          U + E0 against the CP2K potential (E0 = %.4f eV from the training frames; energy rows %@): train RMSE %.3f meV/atom, test RMSE %.3f meV/atom (test spread %.3f meV/atom)",
                     e.offset, e.weight > 0 ? String(format: "weight %g Å^-2", e.weight) : "off", e.trainRMSE, e.testRMSE, e.testSpread))
    }
    for w in r.warnings { print("warning: \(w)") }
    print(String(format: "time            %.2f s total: ranges %.2f s, build %.2f s, solve %.2f s, measure %.2f s (%d threads)",
                 r.totalSeconds, r.rangeSeconds, r.buildSeconds, r.solveSeconds, r.measureSeconds, r.threads))
}

extension InvariantFamily: ExpressibleByArgument {}
extension AngleChoice: ExpressibleByArgument {}
extension AgentKind: ExpressibleByArgument {}
extension LossForm: ExpressibleByArgument {}
