import ArgumentParser
import Foundation
import MLD

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print what a CP2K data set holds.",
        discussion: "Example: mld info --data Data/cp2k-water64-xtb-300K --json")

    @Option(name: .long, help: "A CP2K MD output directory.")
    var data: String

    @Option(name: .long, help: "Cell edges a,b,c in Å (finite, positive, under 3000 Å), used when the directory has no cell.")
    var cell: CellOption?

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let run = try CP2KReader.read(directory: data, cell: cell?.box, requireForces: false)
        let summary = DataSetSummary(run)
        if global.json { try printJSON(summary); return }
        print("data set        \(summary.directory) (project \(summary.project))")
        print("atoms           \(summary.atoms) (" + summary.species.map { "\($0.count) \($0.element)" }.joined(separator: ", ") + ")")
        print("frames          \(summary.frames), steps \(summary.firstStep)...\(summary.lastStep)")
        if let dt = summary.timeStep { print("time step       \(dt) fs") }
        print("cell            \(run.box) (from \(summary.cellSource))")
        if let t = summary.meanTemperature { print(String(format: "mean T          %.1f K (%@)", t, summary.temperatureSource)) }
        for s in summary.species {
            if let f = s.meanForce {
                print(("mean |F| " + s.element).padding(toLength: 16, withPad: " ", startingAt: 0)
                      + String(format: "%.3f eV/Å", f))
            }
        }
        if let t = summary.medianSecondsPerStep { print(String(format: "CP2K time/step  %.3f s (median)", t)) }
        print("files           " + run.files.joined(separator: "\n                "))
    }
}

/// `--cell a,b,c` in Å.
struct CellOption: ExpressibleByArgument {
    var box: Box
    init?(argument: String) {
        let v = argument.split(separator: ",").compactMap { Double($0) }
        if v.count == 1 { box = Box(cubic: v[0]) } else {
            guard v.count == 3 else { return nil }
            box = Box(v[0], v[1], v[2])
        }
        // Finite, positive, under Box.maximumEdge.
        guard box.edgeProblem == nil else { return nil }
    }
}
