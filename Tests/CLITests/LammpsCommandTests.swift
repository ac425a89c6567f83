import Foundation
import MLD
import Testing

/// `MLD_REQUIRE_LAMMPS=1` (set by `make test`): a machine without mpirun or liblammps fails the
/// mld lammps tests instead of skipping them.
let lammpsRequired: Bool = ProcessInfo.processInfo.environment["MLD_REQUIRE_LAMMPS"] == "1"

/// Whether mpirun and liblammps are here.
let lammpsAvailable: Bool = {
    let here = FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun")
        && dlopen("liblammps.so.0", RTLD_NOW | RTLD_GLOBAL) != nil
    if !here && !lammpsRequired {
        print("SKIPPED: no mpirun or liblammps.so.0 (apt-get install liblammps-dev lammps openmpi-bin); the mld lammps tests do not run")
    }
    return here
}()

/// `mld lammps` end to end under mpirun: forces through LAMMPS on 1 and 2 ranks equal mld's
/// CPU backend, and bad input is one line from rank 0 with every rank exiting non-zero.
@Suite(.serialized, .enabled(if: lammpsAvailable || lammpsRequired, "no mpirun or liblammps"))
struct LammpsCommandTests {
    static let data = "Data/cp2k-water64-xtb-300K"
    /// The CP2K frame the box is tiled from, and the tiling (384 atoms, 24.8 x 12.4 x 12.4 Å).
    static let frame = 720
    static let tiling = SIMD3(2, 1, 1)

    /// A folder for one suite run, with the selfish and conservative models and the data file.
    static let folder: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mld-lammps-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let fits: [(String, [String])] = [
            ("selfish.json", []),
            ("conservative.json", ["--agents", "conservative", "--angles", "sums"]),
        ]
        for (name, extra) in fits {
            let r = try? runMLD(["fit", "--data", data, "--train", "0..120:4", "--test", "840..900:6",
                                 "--out", dir.appendingPathComponent(name).path] + extra)
            if r?.status != 0 { print("mld fit failed: \(r?.err ?? "did not run")") }
        }
        let r = try? runMLD(["box", "--from", data, "--frame", "\(frame)", "--replicate", "2x1x1",
                             "--format", "lammps-data", "--out", dir.appendingPathComponent("water.data").path])
        if r?.status != 0 { print("mld box failed: \(r?.err ?? "did not run")") }
        return dir
    }()

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Runs `mpirun -np ranks mld args` from the package root.
    static func runMPI(_ ranks: Int, _ args: [String], environment extra: [String: String] = [:]) throws
        -> (status: Int32, out: String, err: String) {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("mld").path
        let candidates = [besideTests] + [".build/release/mld", ".build/debug/mld"].map { root.appendingPathComponent($0).path }
        let exe = ProcessInfo.processInfo.environment["MLD_BINARY"]
            ?? candidates.first { FileManager.default.isExecutableFile(atPath: $0) }!
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/mpirun")
        p.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", exe] + args
        p.currentDirectoryURL = root
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// A script that reads the data file, evaluates the forces once (run 0) and dumps them.
    static func forceScript(units: String = "metal", cutoff: Double, dump: String, fix: String = LammpsScript.fixExample) -> String {
        """
        units           \(units)
        atom_style      atomic
        boundary        p p p
        read_data       \(path("water.data"))
        comm_modify     cutoff \(cutoff)
        \(fix)
        fix_modify      mld energy yes
        dump            forces all custom 1 \(dump) id type x y z fx fy fz
        dump_modify     forces format float %.17g sort id
        thermo_style    custom step pe
        run             0
        """
    }

    /// Atom id -> (type, position Å, force in the dump's units) from a LAMMPS custom dump.
    static func readDump(_ file: String) throws -> (box: Box, atoms: [Int: (Int, SIMD3<Double>, SIMD3<Double>)]) {
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let b = lines.firstIndex { $0.hasPrefix("ITEM: BOX BOUNDS") }!
        let edges = (1...3).map { k -> Double in
            let w = lines[b + k].split(separator: " ").compactMap { Double($0) }
            return w[1] - w[0]
        }
        let start = lines.firstIndex { $0.hasPrefix("ITEM: ATOMS") }! + 1
        var atoms: [Int: (Int, SIMD3<Double>, SIMD3<Double>)] = [:]
        for line in lines[start...] {
            let w = line.split(separator: " ").map { Double($0)! }
            atoms[Int(w[0])] = (Int(w[1]), SIMD3(w[2], w[3], w[4]), SIMD3(w[5], w[6], w[7]))
        }
        return (Box(edges[0], edges[1], edges[2]), atoms)
    }

    /// max over atoms of |F_lammps / factor - F_cpu| / max |F_cpu|, with F_cpu mld's CPU backend
    /// on the dumped positions.
    static func forceError(model: String, dump: String, factor: Double) throws -> (force: Double, loss: Double) {
        let (box, atoms) = try readDump(dump)
        let m = try LearnedModel.load(model)
        // Data-file type t is species t - 1 of the tiled configuration (mld box's order).
        let elements = try Configuration.load(data, frame: frame).elements
        let ids = atoms.keys.sorted()
        let c = Configuration(atoms: ids.map { elements[atoms[$0]!.0 - 1] }, positions: ids.map { atoms[$0]!.1 }, box: box)
        let sp = try m.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let backend = try CPUBackend(model: m, species: sp, box: box, threads: 1)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
        let scale = f.map { ($0 * $0).sum().squareRoot() }.max()!
        var worst = 0.0
        for (k, id) in ids.enumerated() {
            let d = atoms[id]!.2 / factor - f[k]
            worst = max(worst, (d * d).sum().squareRoot() / scale)
        }
        return (worst, l!.reduce(0, +))
    }

    /// The pe of the thermo row of step 0 in LAMMPS's screen output.
    static func potentialEnergy(_ out: String) -> Double? {
        let lines = out.split(separator: "\n").map { $0.split(separator: " ") }
        guard let h = lines.firstIndex(where: { $0.first == "Step" && $0.contains("PotEng") }), h + 1 < lines.count else { return nil }
        let column = lines[h].firstIndex(of: "PotEng")!
        return Double(lines[h + 1][column])
    }

    func check(model: String, ranks: Int, units: String, cutoff: Double) throws {
        try #require(lammpsAvailable, "MLD_REQUIRE_LAMMPS=1 but mpirun or liblammps.so.0 is missing")
        let tag = "\(model)-\(ranks)-\(units)"
        let input = Self.path("in.\(tag)"), dump = Self.path("forces.\(tag)")
        try Self.forceScript(units: units, cutoff: cutoff, dump: dump).write(toFile: input, atomically: true, encoding: .utf8)
        let r = try Self.runMPI(ranks, ["lammps", "--model", Self.path("\(model).json"), "--input", input])
        #expect(r.status == 0, "\(tag): \(r.err)")
        guard r.status == 0 else { return }
        let factor = units == "real" ? LammpsUnits.kcalPerMolPerEV : 1
        let (e, loss) = try Self.forceError(model: Self.path("\(model).json"), dump: dump, factor: factor)
        print("mld lammps \(tag): max |F_lammps - F_cpu| / max |F_cpu| = \(e)")
        #expect(e < 1e-10, "\(tag): forces through LAMMPS differ from the CPU backend by \(e) relative")
        // fix_modify mld energy yes: pe is the sum of all agents' losses, whatever the rank count.
        let pe = Self.potentialEnergy(r.out)
        #expect(pe != nil, "\(tag): no PotEng in \(r.out)")
        if let pe {
            print("mld lammps \(tag): pe \(pe), sum of the losses \(loss * factor)")
            #expect(abs(pe - loss * factor) <= 1e-6 * abs(loss * factor), "\(tag): pe \(pe) against the losses' sum \(loss * factor)")
        }
    }

    @Test(arguments: [1, 2])
    func selfishForcesMatchTheCPUBackend(ranks: Int) throws {
        try check(model: "selfish", ranks: ranks, units: "metal", cutoff: 8)
    }

    @Test(arguments: [1, 2])
    func conservativeForcesMatchTheCPUBackend(ranks: Int) throws {
        try check(model: "conservative", ranks: ranks, units: "metal", cutoff: 13)
    }

    @Test func realUnitsAreConverted() throws {
        try check(model: "selfish", ranks: 2, units: "real", cutoff: 8)
    }

    // MARK: Bad input: one line from rank 0, every rank non-zero

    func refuses(_ script: String, model: String = "selfish", environment: [String: String] = [:],
                 extra: [String] = [], says expected: String) throws {
        try #require(lammpsAvailable, "MLD_REQUIRE_LAMMPS=1 but mpirun or liblammps.so.0 is missing")
        let input = Self.path("in.bad-\(abs(script.hashValue))")
        try script.write(toFile: input, atomically: true, encoding: .utf8)
        let modelPath = model.hasPrefix("/") ? model : Self.path("\(model).json")
        let r = try Self.runMPI(2, ["lammps", "--model", modelPath, "--input", input] + extra, environment: environment)
        #expect(r.status != 0)
        let lines = r.err.split(separator: "\n").filter { $0.hasPrefix("mld: error:") }
        #expect(lines.count == 1, "expected one error line, got: \(r.err)")
        #expect(lines.first?.contains(expected) == true, "expected '\(expected)' in: \(r.err)")
    }

    @Test func refusesAShortGhostCutoff() throws {
        try refuses(Self.forceScript(cutoff: 6, dump: Self.path("unused")), says: "comm_modify cutoff")
    }

    @Test func refusesConservativeGhostsShorterThanTwiceTheRange() throws {
        try refuses(Self.forceScript(cutoff: 8, dump: Self.path("unused")), model: "conservative", says: "twice the model's range")
    }

    @Test func refusesAScriptWithoutTheFix() throws {
        let script = Self.forceScript(cutoff: 8, dump: Self.path("unused"), fix: "").replacingOccurrences(of: "fix_modify      mld energy yes\n", with: "")
        try refuses(script, says: "fix mld all external pf/callback 1 1")
    }

    @Test func refusesAFixOfTheWrongMode() throws {
        try refuses(Self.forceScript(cutoff: 8, dump: Self.path("unused"), fix: "fix mld all external pf/array 1"),
                    says: ":6: mld's forces need")
    }

    @Test func refusesTypesOfNoSpecies() throws {
        try refuses(Self.forceScript(cutoff: 8, dump: Self.path("unused")), extra: ["--types", "O,C"], says: "type 2 is C")
    }

    @Test func refusesAModelForOtherSpecies() throws {
        let text = try String(contentsOfFile: Self.path("selfish.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"O\"", with: "\"N\"").replacingOccurrences(of: "15.9994", with: "14.0067")
        let other = Self.path("nitrogen.json")
        try text.write(toFile: other, atomically: true, encoding: .utf8)
        try refuses(Self.forceScript(cutoff: 8, dump: Self.path("unused")), model: other, says: "atom type 1 has mass 15.9994 u")
    }

    @Test func refusesWhenTheLibraryIsMissing() throws {
        try refuses(Self.forceScript(cutoff: 8, dump: Self.path("unused")),
                    environment: ["MLD_LAMMPS_LIBRARY": "/nonexistent/liblammps.so.0"], says: "no LAMMPS library at run time")
    }
}
