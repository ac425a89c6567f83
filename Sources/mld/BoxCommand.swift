import ArgumentParser
import Foundation
import MLD

struct BoxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "box",
        abstract: "Build a big periodic water box: tile a configuration, or fill a box with fresh molecules.",
        discussion: """
            Examples:
              mld box --from Data/cp2k-water64-xtb-300K --frame -1 --replicate 4x4x4 --out big.xyz
              mld box --molecules 100000 --density 0.997 --temperature 300 --seed 7 --out box.xyz
            The output is extended XYZ (species, pos in Å, velo in Å/fs) that mld run and ASE read,
            or with --format lammps-data a LAMMPS data file (atom style atomic, type t = species t,
            velocities in the --units style's units) for read_data and mld lammps.
            """)

    @Option(name: .long, help: "A CP2K output directory or an extended-XYZ file to tile.")
    var from: String?

    @Option(name: .long, parsing: .unconditional, help: "Frame of --from: 0 the first, -1 the last.")
    var frame: Int = -1

    @Option(name: .long, help: "Fill a fresh box with this many water molecules.")
    var molecules: Int?

    @Option(name: .long, help: "Density of the fresh box in g/cm3.")
    var density: Double = 0.997

    @Option(name: .long, help: "Temperature of the Maxwell-Boltzmann velocities in K.")
    var temperature: Double = 300

    @Option(name: .long, help: "Seed of the random numbers.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "O-H bond length of the fresh molecules in Å.")
    var bond: Double = 0.9572

    @Option(name: .long, help: "H-O-H angle of the fresh molecules in degrees.")
    var angle: Double = 104.52

    @Option(name: .long, help: "Tile the box AxBxC times (or N for NxNxN).")
    var replicate: String = "1x1x1"

    @Option(name: .long, help: "The extended-XYZ file to write (a new file; see --force).")
    var out: String

    @Option(name: .long, help: "Output format: xyz (extended XYZ) or lammps-data (a LAMMPS data file).")
    var format: BoxFormat = .xyz

    @Option(name: .long, help: "LAMMPS unit style of a lammps-data file's velocities: metal (Å/ps) or real (Å/fs).")
    var units: LammpsUnits = .metal

    @Flag(name: .long, help: "Replace --out if it exists (mld box never replaces a file otherwise).")
    var force = false

    @OptionGroup var global: GlobalOptions

    /// Checks the option combination; a bad one is a one-line usage error.
    func check() throws {
        if (from == nil) == (molecules == nil) {
            throw MLDError.usage("give exactly one of --from PATH and --molecules N")
        }
        if ReplicationCounts(parsing: replicate) == nil {
            throw MLDError.usage("--replicate must look like 4x4x4 or 4 (positive integers), not '\(replicate)'")
        }
        if let c = ReplicationCounts(parsing: replicate) {
            // Limits before any allocation: the image count here; the atom count and the edges
            // of the tiled box once the configuration to tile is known (in `run`).
            let (xy, o1) = c.counts.x.multipliedReportingOverflow(by: c.counts.y)
            let (xyz, o2) = xy.multipliedReportingOverflow(by: c.counts.z)
            if o1 || o2 || xyz > Configuration.maximumAtoms / 2 {
                throw MLDError.usage("--replicate \(replicate) asks for too many images (at most \(Configuration.maximumAtoms) atoms in all)")
            }
        }
        if format == .xyz && units != .metal {
            throw MLDError.usage("--units applies to --format lammps-data only")
        }
        if from != nil && (density != 0.997 || temperature != 300 || seed != 1 || bond != 0.9572 || angle != 104.52) {
            throw MLDError.usage("--density, --temperature, --seed, --bond and --angle apply to --molecules only")
        }
    }

    func run() throws {
        try check()
        // box never replaces a file it cannot tell is its own: an existing --out needs --force.
        try OutputPlace.checkFile(out, option: "--out", force: force)
        removeTemporaryFilesOnSignals()
        let counts = ReplicationCounts(parsing: replicate)!
        let start = Date()
        var c: Configuration
        let source: String
        if let from {
            c = try Configuration.load(from, frame: frame)
            source = "\(from) frame \(frame)"
        } else {
            var builder = WaterBox(molecules: molecules!)
            builder.density = density
            builder.temperature = temperature
            builder.seed = seed
            builder.bondLength = bond
            builder.angle = angle
            c = try builder.build()
            source = "water lattice (seed \(seed))"
        }
        if counts.images > 1 {
            let atoms = c.count.multipliedReportingOverflow(by: counts.images)
            if atoms.overflow || atoms.partialValue > Configuration.maximumAtoms {
                throw MLDError.usage("--replicate \(replicate) of \(c.count) atoms is over \(Configuration.maximumAtoms) atoms")
            }
            let tiled = Box(c.box.lengths * SIMD3<Double>(counts.counts))
            if let problem = tiled.edgeProblem { throw MLDError.usage("--replicate \(replicate): \(problem)") }
            c = c.replicated(counts.counts)
        }
        let built = Date()
        switch format {
        case .xyz: try ExtendedXYZ.writeStreaming(c, to: out)
        case .lammpsData: try LammpsDataFile.write(c, to: out, units: units, title: "mld box: \(source), replicated \(counts.description)")
        }
        let summary = BoxSummary(c, source: source, replicate: counts.description,
                                 buildSeconds: built.timeIntervalSince(start),
                                 writeSeconds: Date().timeIntervalSince(built), output: out)
        if global.json { try printJSON(summary); return }
        let L = c.box.lengths
        print("wrote \(out): \(summary.atoms) atoms (\(summary.molecules) O), box \(String(format: "%.4f x %.4f x %.4f", L.x, L.y, L.z)) Å")
        var line = String(format: "density %.4f g/cm3", summary.density)
        if let t = summary.temperature { line += String(format: ", temperature %.2f K", t) }
        line += String(format: ", built in %.2f s, written in %.2f s", summary.buildSeconds, summary.writeSeconds)
        print(line)
    }
}

/// `mld box --format`.
enum BoxFormat: String, ExpressibleByArgument, CaseIterable {
    case xyz
    case lammpsData = "lammps-data"
}

extension LammpsUnits: ExpressibleByArgument {}
