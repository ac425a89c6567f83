import ArgumentParser
import Foundation
import MLD

/// `mld lammps`: runs a LAMMPS input script with mld's learned forces, on every MPI rank.
///
/// `mpirun -np N mld lammps --model model.json --input in.water`: each rank opens LAMMPS on
/// MPI_COMM_WORLD (`lammps_open_no_mpi`), feeds it the script one command at a time, and
/// before every `run` attaches the force callback to `fix mld all external pf/callback 1 1`.
/// Integration, thermostats, output and restarts are LAMMPS's.
struct LammpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lammps",
        abstract: "Run a LAMMPS input script with mld's learned forces (fix mld all external pf/callback 1 1), on every MPI rank.",
        discussion: """
            Example (the README's):
              mld box --from Data/cp2k-water64-xtb-300K --frame 720 --replicate 2x2x2 --format lammps-data --out water.data
              mpirun -np 2 mld lammps --model model.json --input Examples/lammps/in.water --var data=water.data
            The script must declare `fix mld all external pf/callback 1 1` before it runs, use
            units real or metal, and set `comm_modify cutoff` to at least the model's range plus
            the neighbor skin (twice the range for conservative models); mld checks all three.
            Atom types map to the model's species by mass, or by --types O,H. See docs/lammps.md.
            """)

    @Option(name: .long, help: "The model file (mld fit).")
    var model: String

    @Option(name: .long, help: "The LAMMPS input script.")
    var input: String

    @Option(name: .long, help: "Force backend: cpu (the only one that runs on ghost atoms).")
    var backend: LammpsBackendChoice = .cpu

    @Option(name: .long, help: "Species of the atom types, type 1 first (e.g. O,H); default: by mass.")
    var types: String?

    @Option(name: .long, help: "Threads per rank for the forces.")
    var threads: Int = 1

    @Option(name: .long, help: "Write LAMMPS's log to this new file (default: no log file).")
    var log: String?

    @Option(name: .long, help: "Set a LAMMPS index variable before the script runs: NAME=VALUE (repeatable).")
    var `var`: [String] = []

    func run() throws {
        // Before LAMMPS starts, the launcher's environment is the only way to know the rank.
        let env = ProcessInfo.processInfo.environment
        let launcherRank = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].compactMap { env[$0].flatMap(Int32.init) }.first ?? 0
        let session = LammpsSession(rank: launcherRank)
        do {
            try session.start(self)
        } catch {
            session.fail("\(error)")
        }
    }
}

enum LammpsBackendChoice: String, ExpressibleByArgument, CaseIterable {
    case cpu
}

/// One rank's run: the library, the LAMMPS instance and the force callback's state.
final class LammpsSession {
    private(set) var rank: Int32
    private var size: Int32 = 1
    private var library: LammpsLibrary?
    private var handle: UnsafeMutableRawPointer?
    private var world: MPIWorld?
    private var forces: LammpsForceField?

    init(rank: Int32) { self.rank = rank }

    /// Says `message` in one line from rank 0, ends MPI if LAMMPS started it, exits 1 on every
    /// rank (each rank reaches the same check).
    func fail(_ message: String) -> Never {
        if rank == 0 { FileHandle.standardError.write(Data("mld: error: \(message)\n".utf8)) }
        if handle != nil { library?.mpiFinalize() }
        exit(1)
    }

    func start(_ options: LammpsCommand) throws {
        if options.threads < 1 { throw MLDError.usage("--threads must be at least 1") }
        for v in options.var where !v.contains("=") || v.hasPrefix("=") {
            throw MLDError.usage("--var \(v): give NAME=VALUE")
        }
        let model = try LearnedModel.load(options.model)
        let script = try LammpsScript(path: options.input)
        if let log = options.log { try OutputPlace.checkFile(log, option: "--log", force: false) }
        let lib = try LammpsLibrary()
        library = lib

        var args = ["mld", "-log", options.log ?? "none"]
        for v in options.var {
            let parts = v.split(separator: "=", maxSplits: 1).map(String.init)
            args += ["-var", parts[0], parts.count > 1 ? parts[1] : ""]
        }
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        defer { for p in cargs { free(p) } }
        guard let h = lib.open(Int32(args.count), &cargs, nil) else {
            throw MLDError.usage("LAMMPS could not be started (lammps_open_no_mpi failed)")
        }
        handle = h
        rank = lib.extractSetting(h, "world_rank")
        size = lib.extractSetting(h, "world_size")
        world = MPIWorld(fortranComm: lib.mpiComm(h))
        let internals = try LammpsInternals(handle: h, library: lib, rank: rank, size: size)
        let field = LammpsForceField(session: self, library: lib, handle: h, model: model, modelPath: options.model,
                                     scriptPath: options.input, internals: internals, types: options.types,
                                     threads: options.threads)
        forces = field
        var fixDeclared = false
        for c in script.commands {
            if c.name == "fix", c.words.count > 1, c.words[1] == LammpsScript.fixID {
                if let problem = LammpsScript.fixProblem(c) {
                    throw MLDError.input(file: script.path, line: c.line, problem: problem)
                }
                fixDeclared = true
            }
            if LammpsScript.runCommands.contains(c.name) {
                guard fixDeclared, lib.hasID(h, "fix", LammpsScript.fixID) != 0 else {
                    throw MLDError.input(file: script.path, line: c.line,
                                         problem: "`\(c.name)` before `\(LammpsScript.fixExample)`: mld's forces enter LAMMPS through that fix")
                }
                lib.setCallback(h, LammpsScript.fixID, lammpsForceCallback, Unmanaged.passUnretained(field).toOpaque())
            }
            _ = lib.command(h, c.text)
        }
        if !fixDeclared {
            throw MLDError.input(file: script.path, line: nil, problem: "no `\(LammpsScript.fixExample)`: mld's forces enter LAMMPS through that fix")
        }
        lib.close(h)
        lib.mpiFinalize()
        handle = nil
        withExtendedLifetime(field) {}
    }

    /// The sum of `value` over all ranks (nil when the MPI library is not Open MPI and there
    /// are several ranks).
    func total(_ value: Double) -> Double? {
        if let world { return world.total(value) }
        return size == 1 ? value : nil
    }

    /// Ends the run on every rank when `failed` on some rank: the lowest failing rank says its
    /// message in one line.
    func agree(failed message: String?) {
        guard let world else {
            if let message { FileHandle.standardError.write(Data("mld: error: \(message)\n".utf8)); exit(1) }
            return
        }
        let first = world.minimum(message == nil ? size : rank)
        guard first < size else { return }
        if rank == first, let message { FileHandle.standardError.write(Data("mld: error: \(message)\n".utf8)) }
        library?.mpiFinalize()
        exit(1)
    }
}

/// fix external's callback: the learned forces on this rank's atoms into `fexternal`.
private func lammpsForceCallback(_ caller: UnsafeMutableRawPointer?, _ step: Int64, _ nlocal: Int32,
                                 _ ids: UnsafeMutablePointer<Int32>?,
                                 _ x: UnsafeMutablePointer<UnsafeMutablePointer<Double>?>?,
                                 _ f: UnsafeMutablePointer<UnsafeMutablePointer<Double>?>?) {
    let field = Unmanaged<LammpsForceField>.fromOpaque(caller!).takeUnretainedValue()
    field.apply(step: step, nlocal: Int(nlocal), x: x, f: f)
}
