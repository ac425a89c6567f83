import Foundation
import Testing

/// Conservative models on the command line: runs on the OpenCL backend, agreement of
/// `mld eval` on both backends, data sets with other species, and `--energy-weight`.
@Suite(.serialized) struct ConservativeCommandTests {
    static let data = "Data/cp2k-water64-xtb-300K"
    static let dir: String = {
        let d = NSTemporaryDirectory() + "mld-conscli-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// A quickly fitted conservative model (nearest O:4,H:6, no angles), written once.
    static let model: String = {
        let path = dir + "/conservative.json"
        let r = try! runMLD(["fit", "--data", data, "--agents", "conservative", "--train", "0..600:12", "--test", "840..900:10",
                             "--nearest", "O:4,H:6", "--angles", "none", "--ridge", "1e-8", "--out", path])
        precondition(r.status == 0, "fit failed: \(r.err)")
        return path
    }()

    /// Whether the OpenCL backend can start here (else its checks are skipped with a line).
    static func openCLMissing(_ r: (status: Int32, out: String, err: String)) -> Bool {
        if r.err.contains("no OpenCL platform or device") {
            print("SKIPPED: no OpenCL device; the conservative OpenCL command checks did not run")
            return true
        }
        return false
    }

    /// A start file in the bundled cell whose atoms are `symbols` (one water-like cluster).
    static func start(_ name: String, symbols: [String]) throws -> String {
        let path = dir + "/\(name).xyz"
        var text = "\(symbols.count)\nLattice=\"12.4138 0 0 0 12.4138 0 0 0 12.4138\" Properties=species:S:1:pos:R:3\n"
        for (i, s) in symbols.enumerated() { text += "\(s) \(1.0 + 1.5 * Double(i % 6)) \(1.0 + 1.5 * Double(i / 6)) 2.0\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A conservative model started on atoms of species it lacks (C), or without one of its
    /// species: one line naming the model file, on either backend, and no run directory.
    @Test(arguments: [["O", "C", "C", "O", "C", "C"], ["O", "O", "O", "O"]])
    func otherSpeciesAreRefused(symbols: [String]) throws {
        let startFile = try Self.start("start-\(Set(symbols).sorted().joined())", symbols: symbols)
        let data = Array(Set(symbols)).sorted { symbols.firstIndex(of: $0)! < symbols.firstIndex(of: $1)! }.joined(separator: ",")
        for backend in ["cpu", "opencl"] {
            let out = Self.dir + "/never-\(backend)"
            let r = try runMLD(["run", "--model", Self.model, "--start", startFile, "--backend", backend, "--steps", "5", "--out", out])
            #expect(r.status == 1, "\(r.err)")
            #expect(r.err == "mld: error: \(Self.model): model species O,H do not match the data's species \(data)\n", "\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    /// `mld run --backend opencl` runs a conservative model; `mld eval` gives the same
    /// rel_RMSE on both backends.
    @Test func openCLRunsAndEvaluatesConservativeModels() throws {
        let out = Self.dir + "/run-opencl"
        let r = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--frame", "800", "--backend", "opencl",
                            "--precision", "double", "--steps", "20", "--every", "10", "--out", out, "--quiet", "--json"])
        if Self.openCLMissing(r) { return }
        #expect(r.status == 0, "\(r.err)")
        let rec = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(rec["backend"] as? String == "opencl")
        #expect(rec["stepsDone"] as? Int == 20)

        var relRMSE: [String: [Double]] = [:]
        for backend in ["cpu", "opencl"] {
            let e = try runMLD(["eval", "--model", Self.model, "--data", Self.data, "--frames", "840..900:20",
                                "--backend", backend, "--precision", "double", "--json"])
            #expect(e.status == 0, "\(backend): \(e.err)")
            let obj = try JSONSerialization.jsonObject(with: Data(e.out.utf8)) as! [String: Any]
            relRMSE[backend] = (obj["species"] as! [[String: Any]]).map { $0["relRMSE"] as! Double }
        }
        let cpu = try #require(relRMSE["cpu"]), cl = try #require(relRMSE["opencl"])
        #expect(cpu.count == 2 && cl.count == 2)
        for (a, b) in zip(cpu, cl) { #expect(abs(a - b) < 1e-9 && a > 0.05 && a < 0.6, "cpu \(a) opencl \(b)") }
    }

    /// `--energy-weight`: a number >= 0, for conservative agents only, one line each.
    @Test(arguments: [
        (["--agents", "conservative", "--energy-weight=-1"], "--energy-weight must be a finite number >= 0"),
        (["--agents", "conservative", "--energy-weight", "nan"], "--energy-weight must be a finite number >= 0"),
        (["--agents", "conservative", "--energy-weight", "inf"], "--energy-weight must be a finite number >= 0"),
        (["--energy-weight", "1"], "--energy-weight needs --agents conservative"),
    ])
    func energyWeightRefusals(extra: [String], message: String) throws {
        let never = Self.dir + "/never.json"
        let r = try runMLD(["fit", "--data", Self.data, "--out", never] + extra)
        #expect(r.status != 0)
        #expect(r.err.hasPrefix("mld: error: ") && r.err.contains(message), "stderr: \(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "stderr: \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: never))
    }

    /// A conservative fit with energy rows reports U against the CP2K energies.
    @Test func energyWeightIsReported() throws {
        let path = Self.dir + "/energy.json"
        let r = try runMLD(["fit", "--data", Self.data, "--agents", "conservative", "--energy-weight", "10",
                            "--train", "0..600:30", "--test", "840..900:20", "--nearest", "O:4,H:6", "--angles", "none",
                            "--out", path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("energy rows weight 10 Å^-2"), "\(r.out)")
        #expect(r.out.contains("test RMSE") && r.out.contains("meV/atom"))
    }
}
